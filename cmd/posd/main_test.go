package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpAndFlags(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}} {
		var out, errb bytes.Buffer
		if err := run(args, &out, &errb); err != nil || !strings.Contains(out.String(), "usage: posd") {
			t.Errorf("%v: %v %q", args, err, out.String())
		}
	}
	var out, errb bytes.Buffer
	if err := run([]string{"-bogus"}, &out, &errb); err == nil || !strings.Contains(err.Error(), "posd -h") {
		t.Errorf("unknown flag: %v", err)
	}
	if err := run([]string{"extra"}, &out, &errb); err == nil {
		t.Error("stray argument accepted")
	}
	out.Reset()
	if err := run([]string{"-print-config", "-data-dir", "/tmp/x"}, &out, &errb); err != nil ||
		!strings.Contains(out.String(), `"data_dir": "/tmp/x"`) || !strings.Contains(out.String(), `"shutdown_timeout": "15s"`) {
		t.Errorf("print-config: %v %s", err, out.String())
	}
}
