//go:build !windows && !plan9

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	ucli "github.com/urfave/cli/v2"
)

// daemonize is the foreground side of `serve -d`: it starts this program again in the
// background with the same arguments and relays its start (see serve_daemon.go).
func daemonize(c *ucli.Context) error {
	errw := c.App.ErrWriter
	exe, err := os.Executable()
	if err != nil {
		return exitf(exitError, "-d: cannot find this program to run it in the background: %v", err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return exitf(exitError, "-d: %v", err)
	}
	defer devnull.Close()
	relayR, relayW, err := os.Pipe()
	if err != nil {
		return exitf(exitError, "-d: %v", err)
	}
	defer relayR.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		relayW.Close()
		return exitf(exitError, "-d: %v", err)
	}
	defer readyR.Close()

	cmd := &exec.Cmd{Path: exe, Args: os.Args, Env: append(os.Environ(), daemonEnv+"=1"),
		Stdin: devnull, Stdout: devnull, Stderr: devnull,
		ExtraFiles:  []*os.File{relayW, readyW}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	err = cmd.Start()
	relayW.Close()
	readyW.Close()
	if err != nil {
		return exitf(exitError, "-d: cannot start the background process: %v", err)
	}
	copied := make(chan struct{})
	go func() { // ends when the background process closes the relay pipe or exits
		defer close(copied)
		_, _ = io.Copy(errw, relayR)
	}()
	var b [1]byte
	if n, _ := readyR.Read(b[:]); n == 1 {
		<-copied
		_ = cmd.Process.Release() // it runs on; init reaps it
		return nil
	}
	// The pipe closed without the byte: the background process ended before it was ready.
	err = cmd.Wait()
	<-copied
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return exitf(ee.ExitCode(), "")
	}
	return exitf(exitError, "-d: the background process ended before the broker ran (%v)", fmt.Sprint(err))
}
