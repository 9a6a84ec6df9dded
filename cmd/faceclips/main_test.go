package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The command writes the set it says, the same bytes for the same
// arguments.
func TestWritesTheSet(t *testing.T) {
	var log bytes.Buffer
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := run([]string{"-out", dir, "-live", "2", "-attacks", "2", "-frames", "3", "-w", "160", "-h", "120"}, &log); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(a, "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var labels []label
	if err := json.Unmarshal(raw, &labels); err != nil || len(labels) != 4 {
		t.Fatalf("labels %s: %v", raw, err)
	}
	// Every line has every field, empty or not.
	var lines []map[string]any
	if err := json.Unmarshal(raw, &lines); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "subject", "enrolled", "attack", "action", "challenge", "second", "seed", "frames"} {
		if _, ok := lines[0][k]; !ok {
			t.Fatalf("labels.json has no %q: %s", k, raw)
		}
	}
	for _, l := range labels {
		for _, f := range []string{"frame000.png", "frame002.png", "ir002.png"} {
			x, err := os.ReadFile(filepath.Join(a, l.ID, f))
			if err != nil {
				t.Fatal(err)
			}
			y, _ := os.ReadFile(filepath.Join(b, l.ID, f))
			if !bytes.Equal(x, y) {
				t.Fatalf("%s/%s differs between two runs", l.ID, f)
			}
		}
	}
	if labels[0].Attack != "none" || labels[0].Action != labels[0].Challenge || labels[2].Attack != "print" {
		t.Fatalf("labels: %+v", labels)
	}
	if err := run([]string{"-out", a, "-frames", "0"}, &log); err == nil {
		t.Fatal("-frames 0 accepted")
	}
}
