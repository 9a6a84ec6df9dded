package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParamsChecked: -params publishes a bundle with hotlist, host,
// limits and risk sections, and refuses at start one terminals would
// refuse, whichever section is wrong.
func TestParamsChecked(t *testing.T) {
	dir := t.TempDir()
	write := func(name, sections string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(`{"version":2,"created":"2026-11-28T00:00:00Z","sections":`+sections+`}`), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	simEMV, err := os.ReadFile(filepath.Join("..", "..", "terminal", "emv", "params", "sim.json"))
	if err != nil {
		t.Fatal(err)
	}
	good := write("good.json", `{"hotlist":["47617390"],"host":{"addr":"127.0.0.1:9"},"limits":{"max_amount":{"insert":10000}},"risk":{"max_amount":{"swipe":5000}},"emv":`+string(simEMV)+`}`)
	log := slog.New(slog.DiscardHandler)
	if _, err := openRepo(filepath.Join(dir, "repo"), "", []string{good}, "", 0, nil, log); err != nil {
		t.Fatal(err)
	}
	for name, sections := range map[string]string{
		"pan":    `{"hotlist":["4761739001010010"]}`,
		"host":   `{"host":{"addr":"nowhere"}}`,
		"limits": `{"limits":{"floor":1}}`,
		// The sections terminals read with the kernel's and the risk
		// rules' own parsers are checked by them too.
		"emv":         `{"emv":{"aids":"A0000000031010"}}`,
		"emv capk":    `{"emv":{"capk_files":["keys.json"]}}`,
		"risk key":    `{"risk":{"max_amount":{"swipe":1000}, "surcharge":5}}`,
		"risk amount": `{"risk":{"max_amount":{"swipe":-1}}}`,
	} {
		p := write(name+".json", sections)
		if _, err := openRepo(filepath.Join(dir, "repo-"+name), "", []string{p}, "", 0, nil, log); err == nil || !strings.Contains(err.Error(), "section") {
			t.Errorf("%s: %v", name, err)
		} else if strings.Contains(err.Error(), "4761739001010010") {
			t.Errorf("%s: the error shows the card number: %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// A firmware rollback report carries an id and the terminal's decision;
// a repeat of the same id (the terminal never saw the answer) is taken
// but journaled once.
func TestRollbackReportOnce(t *testing.T) {
	var buf bytes.Buffer
	h := reportHandler(&journal{w: &buf}, slog.New(slog.DiscardHandler))
	post := func(body string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/report", strings.NewReader(body)))
		return w.Code
	}
	rb := `{"terminal_id":"T1","target":"firmware/posd-3","version":3,"result":"rolled_back","detail":"blocked (firmware fault): x","id":"00000000000000000007-1","decision":"blocked"}`
	for range 2 {
		if code := post(rb); code != http.StatusNoContent {
			t.Fatalf("report answered %d", code)
		}
	}
	// Another terminal's rollback with the same id is its own.
	if code := post(strings.Replace(rb, `"T1"`, `"T2"`, 1)); code != http.StatusNoContent {
		t.Fatalf("report answered %d", code)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"decision":"blocked"`) || !strings.Contains(lines[0], `"result":"rolled_back"`) {
		t.Fatalf("journal:\n%s", buf.String())
	}
	if code := post(`{"terminal_id":"T1","target":"x","result":"ok","surprise":1}`); code != http.StatusBadRequest {
		t.Fatalf("unknown field answered %d", code)
	}
}
