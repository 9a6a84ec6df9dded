package emvcmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const traces = "../../../terminal/emv/testdata"

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := Run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestReplayShippedTraces(t *testing.T) {
	want := map[string]string{
		"contact_visa_online_scripts.json":  "approved",
		"contact_visa_offline_t0.json":      "approved_offline",
		"contactless_qvsdc_online_pin.json": "approved",
		"contactless_qvsdc_offline.json":    "approved_offline",
	}
	for file, outcome := range want {
		t.Run(file, func(t *testing.T) {
			code, out, errs := runCmd("replay", "--trace", filepath.Join(traces, file))
			if code != ExitOK || errs != "" {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(out), &res); err != nil || strings.Count(out, "\n") != 1 {
				t.Fatalf("not one JSON object: %q", out)
			}
			if res["outcome"] != outcome {
				t.Errorf("outcome %v, want %s", res["outcome"], outcome)
			}
			for _, k := range []string{"tvr", "tsi", "cvm_results", "cryptogram_type", "aid", "de55"} {
				if s, _ := res[k].(string); s == "" {
					t.Errorf("%s missing in %s", k, out)
				}
			}
			if _, ok := res["error"]; ok {
				t.Errorf("error in %s", out)
			}
		})
	}
}

func TestReplayDiverged(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(traces, "contact_visa_online_scripts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tr map[string]any
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatal(err)
	}
	tr["terminal"].(map[string]any)["9F37"] = "00000000"
	b, _ := json.Marshal(tr)
	path := filepath.Join(t.TempDir(), "t.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd("replay", "--trace", path)
	if code != ExitError || !strings.Contains(out, `"error":"emv: card diverged from the trace: exchange `) || !strings.Contains(errs, "diverged") {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errs)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"replay"}, {"replay", "--trace"}, {"replay", "--trace", "x", "extra"}, {"frobnicate"}} {
		if code, _, _ := runCmd(args...); code != ExitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, ExitUsage)
		}
	}
	if code, out, _ := runCmd("help"); code != ExitOK || !strings.Contains(out, "replay --trace FILE") {
		t.Errorf("help: %d %q", code, out)
	}
	if code, _, errs := runCmd("replay", "--trace", "/nonexistent"); code != ExitError || errs == "" {
		t.Errorf("missing file: %d %q", code, errs)
	}
	if code, _, errs := runCmd("replay", "--trace", filepath.Join(traces, "contact_visa_offline_t0.json"), "--params", "/nonexistent"); code != ExitError || errs == "" {
		t.Errorf("missing params: %d %q", code, errs)
	}
	if code, _, _ := runCmd("replay", "--trace", filepath.Join(traces, "contact_visa_offline_t0.json"), "--capk", "../../../crypto/emv/testdata/capk_test_keys.json"); code != ExitOK {
		t.Errorf("--capk: exit %d", code)
	}
}
