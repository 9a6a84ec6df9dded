package emv

import "testing"

// SetConfig changes the configuration of the transactions that start
// after it, not of one under way.
func TestSetConfig(t *testing.T) {
	cfg, err := LoadParams(SimParams())
	if err != nil {
		t.Fatal(err)
	}
	k := New(cfg, Opts{})
	before := &txnState{k: k, cfg: k.cfg.Load()}
	smaller := cfg
	smaller.AIDs = cfg.AIDs[:1]
	k.SetConfig(smaller)
	after := k.cfg.Load()
	if len(after.AIDs) != 1 || len(before.cfg.AIDs) != len(cfg.AIDs) || len(cfg.AIDs) < 2 {
		t.Fatalf("AIDs: before %d, after %d, given %d", len(before.cfg.AIDs), len(after.AIDs), len(cfg.AIDs))
	}
	// The kernel keeps its own copy: changing the caller's afterwards
	// changes nothing.
	smaller.AIDs[0].Label = "changed"
	if after.AIDs[0].Label == "changed" {
		t.Fatal("SetConfig did not copy the configuration")
	}
}
