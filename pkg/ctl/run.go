package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// fatal is what cmdutil.CheckErr hands to ctl instead of exiting.
type fatal struct {
	msg  string
	code int
}

// exitError is a failure ctl has already reported on stderr.
type exitError struct {
	msg  string
	code int
}

func (e *exitError) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.msg
}

// ExitCode is the process exit status for an error NewCommand's command
// returned: the remote command's status for exec, 130 after an interrupt,
// otherwise 1.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

// adopt makes one of kubectl's commands (and its subcommands) a ctl verb:
// it runs through c.run, prints its own errors, and speaks of ctl.
func (c *connection) adopt(ctx context.Context, cmd *cobra.Command, errOut io.Writer) {
	rename(cmd)
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		msg := fmt.Sprintf("error: %v\nSee '%s -h' for help and examples", err, cmd.CommandPath())
		fmt.Fprintln(errOut, msg)
		return &exitError{msg: msg, code: 1}
	})
	switch {
	case cmd.Run != nil:
		run := cmd.Run
		cmd.Run = nil
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return c.run(ctx, errOut, func() error { run(cmd, args); return nil })
		}
	case cmd.RunE != nil:
		run := cmd.RunE
		cmd.RunE = func(cmd *cobra.Command, args []string) error {
			return c.run(ctx, errOut, func() error { return run(cmd, args) })
		}
	}
	for _, sub := range cmd.Commands() {
		c.adopt(ctx, sub, errOut)
	}
}

// run executes one kubectl command body. CheckErr's report arrives as a
// fatal panic and becomes an exitError; an interrupt (ctx done) returns
// at once, as kubectl would die on SIGINT.
func (c *connection) run(ctx context.Context, errOut io.Writer, body func() error) error {
	c.resolve()

	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(fatal)
				if !ok {
					panic(r)
				}
				done <- c.report(errOut, f)
			}
		}()
		cmdutil.CheckErr(body())
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return &exitError{msg: "interrupted", code: 130}
	}
}

// report prints a failure the way kubectl does, except that a server ctl
// could not dial is named with advice.
func (c *connection) report(errOut io.Writer, f fatal) error {
	msg := fileLines(f.msg)
	if dialErr := c.lastDialError(); dialErr != nil && f.code != 0 {
		msg = "error: " + dialErr.Error()
	}
	if msg != "" {
		fmt.Fprintln(errOut, strings.TrimSuffix(msg, "\n"))
	}
	return &exitError{msg: strings.TrimPrefix(strings.TrimSuffix(msg, "\n"), "error: "), code: f.code}
}
