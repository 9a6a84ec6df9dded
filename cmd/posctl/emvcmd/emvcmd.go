// Package emvcmd implements "posctl emv": offline tools around posd's EMV
// kernel (terminal/emv), like "posctl keys" they need no daemon.
//
//	posctl emv replay --trace FILE [--params FILE] [--capk FILE]
//
// replay runs the kernel against a recorded exchange (the trace format of
// the README) and prints one JSON object: outcome, reason, tvr, tsi,
// cvm_results, cryptogram_type, aid, de55 (hex) and error when the card
// diverged from the recording. The kernel's parameters are the simulated
// board's (terminal/emv/params/sim.json) unless --params names another
// parameter file; --capk adds the keys of a CA key file (crypto/emv's
// format); the trace's own CA keys are always added.
//
// Exit status: 0 when the replay ran to its end, 1 when the card diverged
// or a file is unusable (the JSON still says what happened when there is
// one), 2 for a usage mistake.
package emvcmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	cemv "posd/crypto/emv"
	"posd/terminal/emv"
)

// Exit statuses of Run.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Usage is the help text of "posctl emv help".
const Usage = `usage: posctl emv <command> [options]

  replay --trace FILE [--params FILE] [--capk FILE]
      Run the EMV kernel against a recorded card exchange and print one
      JSON object: outcome, reason, tvr, tsi, cvm_results,
      cryptogram_type, aid, de55 and error (the card diverged from the
      trace: the exchange's index and both commands). The parameters are
      the simulated board's unless --params names a parameter file;
      --capk adds CA keys from a crypto/emv CA key file.
  help
`

// Run executes "posctl emv" with args (the words after "emv") and
// returns the exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, Usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	switch args[0] {
	case "replay":
		return replay(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "posctl emv: unknown command %q (try \"posctl emv help\")\n", args[0])
	return ExitUsage
}

func replay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("posctl emv replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	trace := fs.String("trace", "", "trace file")
	params := fs.String("params", "", "kernel parameter file")
	capk := fs.String("capk", "", "CA public key file")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *trace == "" {
		msg := "replay needs --trace FILE"
		if err != nil {
			msg = err.Error()
		} else if fs.NArg() > 0 {
			msg = "unexpected argument " + fs.Arg(0)
		}
		fmt.Fprintf(stderr, "posctl emv: %s\n", msg)
		return ExitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "posctl emv: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return ExitError
	}
	var cfg emv.Config
	var err error
	if *params != "" {
		cfg, err = emv.LoadParamsFile(*params)
	} else {
		cfg, err = emv.LoadParams(emv.SimParams())
	}
	if err != nil {
		return fail(err)
	}
	if *capk != "" {
		b, err := os.ReadFile(*capk)
		if err != nil {
			return fail(err)
		}
		keys, err := cemv.ParseCAPKFile(b)
		if err != nil {
			return fail(err)
		}
		if err := cfg.AddCAPKs(keys...); err != nil {
			return fail(err)
		}
	}
	data, err := os.ReadFile(*trace)
	if err != nil {
		return fail(err)
	}
	tr, err := emv.ParseTrace(data)
	if err != nil {
		return fail(err)
	}
	res := emv.Replay(context.Background(), cfg, tr, emv.Opts{})
	b, err := json.Marshal(res)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, string(b))
	if res.Error != "" {
		fmt.Fprintf(stderr, "posctl emv: %s\n", res.Error)
		return ExitError
	}
	return ExitOK
}
