package containerlog_test

import (
	"os"
	"strings"

	"minik8s/pkg/containerlog"
)

// A log file written by the logger, read back with the times of the lines.
func ExampleReader() {
	file := "2025-03-01T10:00:00.5Z stdout F listening on :8080\n" +
		"2025-03-01T10:00:02Z stderr F GET / 200\n"
	r := containerlog.NewReader(strings.NewReader(file), containerlog.Options{Timestamps: true})
	_, _ = r.WriteTo(os.Stdout)
	// Output:
	// 2025-03-01T10:00:00.5Z listening on :8080
	// 2025-03-01T10:00:02Z GET / 200
}
