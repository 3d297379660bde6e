package imagebuild

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Dockerfile is a parsed Dockerfile: its stages and the ARGs before the
// first FROM.
type Dockerfile struct {
	Stages   []instructions.Stage
	MetaArgs []instructions.ArgCommand
	Escape   rune
	Warnings []string
}

// ParseDockerfile parses with BuildKit's parser and instruction types, so
// the errors are BuildKit's; an error names the line it is on.
func ParseDockerfile(name string, data []byte) (*Dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, locate(name, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, locate(name, err)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: dockerfile contains no stages to build", name)
	}
	df := &Dockerfile{Stages: stages, MetaArgs: metaArgs, Escape: res.EscapeToken}
	for _, w := range res.Warnings {
		df.Warnings = append(df.Warnings, w.Short)
	}
	return df, nil
}

// locate prefixes an error with FILE:LINE when BuildKit recorded where it
// is and its message does not already say.
func locate(name string, err error) error {
	line := errorLine(err)
	msg := err.Error()
	if line == 0 {
		return fmt.Errorf("%s: %s", name, msg)
	}
	if strings.Contains(msg, "line "+strconv.Itoa(line)) {
		return fmt.Errorf("%s:%d: %s", name, line, msg)
	}
	return fmt.Errorf("%s:%d: dockerfile parse error on line %d: %s", name, line, line, msg)
}

// errorLine is the first line BuildKit attached to err, or 0.
func errorLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) {
		for _, locs := range le.Locations {
			for _, r := range locs {
				if r.Start.Line > 0 {
					return r.Start.Line
				}
			}
		}
	}
	return 0
}

// stepError names the Dockerfile line of a failed instruction.
func stepError(name string, cmd instructions.Command, err error) error {
	if cmd == nil || len(cmd.Location()) == 0 {
		return err
	}
	return fmt.Errorf("%s:%d: %w", name, cmd.Location()[0].Start.Line, err)
}

// envGetter is a build's environment for variable expansion, in the
// order it was set; later values win.
type envList []string

func (e envList) get(key string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		k, v, _ := strings.Cut(e[i], "=")
		if shell.EqualEnvKeys(k, key) {
			return v, true
		}
	}
	return "", false
}

// set replaces or appends key=value, keeping the order of first setting
// (as BuildKit's addEnv does).
func (e envList) set(key, value string) envList {
	out := append(envList(nil), e...)
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		if shell.EqualEnvKeys(k, key) {
			out[i] = key + "=" + value
			return out
		}
	}
	return append(out, key+"="+value)
}

func (e envList) getter() shell.EnvGetter { return shell.EnvsFromSlice(e) }
