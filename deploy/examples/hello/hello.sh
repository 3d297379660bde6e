#!/bin/sh
# A CGI script: busybox httpd runs it for /cgi-bin/hello.
echo "Content-Type: text/plain"
echo
echo "${GREETING} (pod $(hostname), $(cat /app/www/VERSION))"
