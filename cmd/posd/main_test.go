package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"posd/terminal/store"
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

// TestCheckDB: posd -check-db, the check posd runs on its database in a
// child process before opening it: 0 for a whole file, 1 and why for a
// damaged one, nothing else printed.
func TestCheckDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	d, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	var out, errb bytes.Buffer
	if err := run([]string{"-check-db", path}, &out, &errb); err != nil || out.Len() != 0 || errb.Len() != 0 {
		t.Errorf("whole file: %v %q %q", err, out.String(), errb.String())
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	var code exitStatus
	if err := run([]string{"-check-db", path}, &out, &errb); !errors.As(err, &code) || code != store.ExitCheckDamaged ||
		!strings.Contains(errb.String(), "empty") {
		t.Errorf("empty file: %v %q", err, errb.String())
	}
}

// TestPrintConfigChecksFaceThresholds: posd -print-config, the field
// engineer's check of a configuration, refuses liveness thresholds out of
// range, as posd's start would, naming the key.
func TestPrintConfigChecksFaceThresholds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.json")
	if err := os.WriteFile(path, []byte(`{"face":{"thresholds":{"min_face_frac":5}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := run([]string{"-config", path, "-print-config"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "face.thresholds") || !strings.Contains(err.Error(), "min_face_frac") {
		t.Fatalf("thresholds out of range: %v\n%s", err, out.String())
	}
	os.WriteFile(path, []byte(`{"face":{"thresholds":{"min_face_frac":0.2}}}`), 0o600)
	out.Reset()
	if err := run([]string{"-config", path, "-print-config"}, &out, &errb); err != nil || !strings.Contains(out.String(), `"min_face_frac": 0.2`) {
		t.Fatalf("thresholds in range: %v\n%s", err, out.String())
	}
}
