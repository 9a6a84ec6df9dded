// Command fakeposd stands in for posd in posd-supervisor's tests. What it
// does is the mode written at the end of its own executable: the tests
// append "\n#FAKEPOSD:<mode>:<version>\n" to one build to make images of
// different versions (an ELF file runs with bytes appended).
//
//	serve         commit when on trial, then run until SIGTERM/SIGINT (exit 0)
//	exit0         commit when on trial, exit 0
//	fail          exit 1 at once
//	hang          never commit; exit 0 on SIGTERM/SIGINT
//	stubborn      never commit; ignore SIGTERM (only SIGKILL ends it)
//	unhealthy     roll the trial back (failed self-test), exit 1
//	restart-once  exit 75 on the first start of this version, then serve
//
// Each start, commit, rollback and signal is a line in the -log file.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"posd/terminal/slots"
)

func main() {
	logPath := flag.String("log", "", "file to append events to")
	markDir := flag.String("mark", "", "directory of restart-once markers")
	flag.Parse()
	// Before anything is logged: a test signals once it sees the start line.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	mode, version := trailer()
	slot, trial := os.Getenv(slots.EnvSlot), os.Getenv(slots.EnvTrial) == "1"
	logf := func(format string, a ...any) {
		if *logPath == "" {
			return
		}
		f, err := os.OpenFile(*logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			os.Exit(3)
		}
		fmt.Fprintf(f, "%d "+format+"\n", append([]any{os.Getpid()}, a...)...)
		f.Close()
	}
	logf("start slot=%s version=%s env_version=%s trial=%v boot=%s mode=%s args=%s",
		slot, version, os.Getenv(slots.EnvVersion), trial, os.Getenv(slots.EnvBoot), mode, strings.Join(os.Args[1:], ","))
	ctx := context.Background()
	manager := func() *slots.Manager {
		m, err := slots.OpenDir(os.Getenv(slots.EnvDir), slots.Options{})
		if err != nil {
			logf("open-error %v", err)
			os.Exit(4)
		}
		return m
	}
	commit := func() {
		if !trial {
			return
		}
		if err := manager().Commit(ctx, slot); err != nil {
			logf("commit-error %v", err)
			os.Exit(5)
		}
		logf("commit")
	}
	serve := func() {
		s := <-sigs
		logf("stop %v", s)
		os.Exit(0)
	}
	switch mode {
	case "serve":
		commit()
		serve()
	case "exit0":
		commit()
	case "fail":
		os.Exit(1)
	case "hang":
		serve()
	case "stubborn":
		for s := range sigs {
			logf("ignore %v", s)
		}
	case "unhealthy":
		if err := manager().Rollback(ctx, "self-test failed"); err != nil {
			logf("rollback-error %v", err)
		}
		logf("rollback")
		os.Exit(1)
	case "restart-once":
		mark := filepath.Join(*markDir, slot+"-"+version)
		if _, err := os.Stat(mark); err != nil {
			os.WriteFile(mark, nil, 0o600)
			logf("restart")
			os.Exit(75)
		}
		commit()
		serve()
	default:
		logf("unknown mode %q", mode)
		os.Exit(6)
	}
}

// trailer reads mode and version from the end of the executable.
func trailer() (mode, version string) {
	exe, err := os.Executable()
	if err != nil {
		return "serve", ""
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return "serve", ""
	}
	i := bytes.LastIndex(b, []byte("\n#FAKEPOSD:"))
	if i < 0 {
		return "serve", ""
	}
	f := strings.Split(strings.TrimSpace(string(b[i+len("\n#FAKEPOSD:"):])), ":")
	if len(f) != 2 {
		return "serve", ""
	}
	return f[0], f[1]
}
