package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParamsChecked: -params publishes a bundle with hotlist, host and
// limits sections, and refuses at start one terminals would refuse.
func TestParamsChecked(t *testing.T) {
	dir := t.TempDir()
	write := func(name, sections string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(`{"version":2,"created":"2026-11-28T00:00:00Z","sections":`+sections+`}`), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{"hotlist":["47617390"],"host":{"addr":"127.0.0.1:9"},"limits":{"max_amount":{"insert":10000}}}`)
	log := slog.New(slog.DiscardHandler)
	if _, err := openRepo(filepath.Join(dir, "repo"), "", []string{good}, "", 0, nil, log); err != nil {
		t.Fatal(err)
	}
	for name, sections := range map[string]string{
		"pan":    `{"hotlist":["4761739001010010"]}`,
		"host":   `{"host":{"addr":"nowhere"}}`,
		"limits": `{"limits":{"floor":1}}`,
	} {
		p := write(name+".json", sections)
		if _, err := openRepo(filepath.Join(dir, "repo-"+name), "", []string{p}, "", 0, nil, log); err == nil || !strings.Contains(err.Error(), "section") {
			t.Errorf("%s: %v", name, err)
		} else if strings.Contains(err.Error(), "4761739001010010") {
			t.Errorf("%s: the error shows the card number: %v", name, err)
		}
	}
}
