package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"minik8s/pkg/netns"
)

// Status prints the lab's components, their pids and logs, and its nodes.
func Status(ctx context.Context, dir string, out io.Writer) error {
	p := paths{dir}
	st, err := readState(dir)
	if err != nil {
		return err
	}
	running := supervisorRunning(p)
	sup := "not running (the lab is stale: `ctl lab up` cleans it and starts again, `ctl lab down` removes it)"
	if running {
		sup = fmt.Sprintf("running (pid %d)", readPid(p.supervisorPid()))
	}
	fmt.Fprintf(out, "lab: %d nodes, state %s\nsupervisor: %s\n\n", st.Nodes, dir, sup)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATE\tPID\tLOG")
	for _, c := range st.Components {
		state, pid := "stopped", "-"
		if _, err := os.Stat(p.stopped(c.Name)); err == nil {
			state = "powered off"
		} else if n := componentPid(p, c.Name); n > 0 {
			state, pid = "running", fmt.Sprint(n)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, state, pid, p.log(c.Name))
	}
	tw.Flush()
	cs, err := labClient(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(out, "\nnodes: the API does not answer (%v)\n", err)
		return nil
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tREADY\tADDRESS\tPOD CIDR\tNETNS")
	for _, n := range Nodes(st.Nodes) {
		ready := "absent"
		for i := range list.Items {
			if list.Items[i].Name == n.Name() {
				ready = fmt.Sprint(nodeReady(&list.Items[i]))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name(), ready, n.IP(), n.PodCIDR(), n.Netns())
	}
	return tw.Flush()
}

// Logs prints a component's log, following it with follow.
func Logs(ctx context.Context, dir, component string, follow bool, out io.Writer) error {
	st, err := readState(dir)
	if err != nil {
		return err
	}
	if _, ok := st.component(component); !ok && component != "supervisor" && component != auditLogName {
		if n, err := ParseNode(component, st.Nodes); err == nil {
			component = n.Component()
		} else {
			return fmt.Errorf("no component %q: the lab has %s, supervisor, %s", component, strings.Join(st.componentNames(), ", "), auditLogName)
		}
	}
	f, err := os.Open(paths{dir}.log(component))
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		if _, err := io.Copy(out, f); err != nil {
			return err
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ExitError carries the exit status of a command run by `lab exec`.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("command exited with status %d", e.Code) }

// Exec runs argv inside a node's network namespace (in the machine's mount
// namespace, so the pods' namespace files are visible).
func Exec(ctx context.Context, dir, node string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	st, err := readState(dir)
	if err != nil {
		return err
	}
	n, err := ParseNode(node, st.Nodes)
	if err != nil {
		return err
	}
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := netns.Start(n.NetnsPath(), cmd); err != nil {
		return err
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}

// NodePower powers a node off (its agent and its containers stop, its link
// goes down) or on again.
func NodePower(ctx context.Context, dir, node string, on bool, out io.Writer) error {
	if os.Geteuid() != 0 {
		return errNotRoot("node")
	}
	p := paths{dir}
	st, err := readState(dir)
	if err != nil {
		return err
	}
	if !supervisorRunning(p) {
		return errors.New("the lab's supervisor is not running: restart the lab with `ctl lab up`")
	}
	n, err := ParseNode(node, st.Nodes)
	if err != nil {
		return err
	}
	start := time.Now()
	if !on {
		if err := os.WriteFile(p.stopped(n.Component()), nil, 0o644); err != nil {
			return err
		}
		// The supervisor stops the agent within its grace period.
		deadline := time.Now().Add(stopGrace + 3*time.Second)
		for componentPid(p, n.Component()) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if pid := componentPid(p, n.Component()); pid > 0 {
			return fmt.Errorf("the agent of %s (pid %d) did not stop", n.Name(), pid)
		}
		k, err := killCgroup(nodeCgroup(n))
		if err != nil {
			return err
		}
		if err := setNodeLink(n, false); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s powered off: agent stopped, %d container processes killed, link down (%s)\n", n.Name(), k, time.Since(start).Round(time.Millisecond))
		return nil
	}
	if err := setNodeLink(n, true); err != nil {
		return err
	}
	if err := os.Remove(p.stopped(n.Component())); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for componentPid(p, n.Component()) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent of %s did not start: see `ctl lab logs %s`", n.Name(), n.Component())
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(out, "%s powered on: link up, agent started (%s)\n", n.Name(), time.Since(start).Round(time.Millisecond))
	return nil
}
