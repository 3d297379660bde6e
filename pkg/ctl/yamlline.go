package ctl

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// yamlLineError matches the resource builder's report of a YAML syntax
// error, whose line number counts from the start of the failing document,
// not of the file.
var yamlLineError = regexp.MustCompile(`error parsing (.+?): error converting YAML to JSON: yaml: line (\d+): `)

// fileLines rewrites the line number of a YAML syntax error in a
// multi-document file so that it counts from the top of the file, where an
// editor will look for it. Messages it cannot place are returned unchanged.
func fileLines(msg string) string {
	m := yamlLineError.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	path, lineText := msg[m[2]:m[3]], msg[m[4]:m[5]]
	line, _ := strconv.Atoi(lineText)
	data, err := os.ReadFile(path)
	if err != nil {
		return msg
	}
	for _, doc := range splitYAMLDocuments(data) {
		_, err := yaml.YAMLToJSON(doc.data)
		if err == nil || !strings.Contains(err.Error(), "yaml: line "+lineText+":") {
			continue
		}
		if doc.firstLine == 1 {
			return msg
		}
		return msg[:m[4]] + fmt.Sprintf("%d (line %d of %s)", doc.firstLine+line-1, line, ordinal(doc.index)+" document") + msg[m[5]:]
	}
	return msg
}

type yamlDocument struct {
	index     int // 1-based
	firstLine int // 1-based line of the file where the document starts
	data      []byte
}

// splitYAMLDocuments splits as apimachinery's YAMLReader does: a line that
// starts with "---" followed by nothing or a comment ends a document.
func splitYAMLDocuments(data []byte) []yamlDocument {
	var docs []yamlDocument
	cur := yamlDocument{index: 1, firstLine: 1}
	lines := bytes.SplitAfter(data, []byte("\n"))
	for i, l := range lines {
		if rest, ok := bytes.CutPrefix(l, []byte("---")); ok {
			if t := bytes.TrimSpace(rest); len(t) == 0 || t[0] == '#' {
				docs = append(docs, cur)
				cur = yamlDocument{index: cur.index + 1, firstLine: i + 2}
				continue
			}
		}
		cur.data = append(cur.data, l...)
	}
	return append(docs, cur)
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return fmt.Sprintf("%dth", n)
	case n%10 == 1:
		return fmt.Sprintf("%dst", n)
	case n%10 == 2:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}
