package txn

import (
	"testing"
)

// wantAside checks that e lists id, alone, as set aside for why, and that
// a restart would too (the list rebuilt from the records).
func wantAside(t *testing.T, e *Engine, id, why string) {
	t.Helper()
	check := func(when string) {
		t.Helper()
		got := e.Aside()
		if len(got) != 1 || got[0].ID != id || got[0].Why != why || got[0].Amount <= 0 || got[0].Updated.IsZero() {
			t.Fatalf("set aside %s: %+v, want %s for %s", when, got, id, why)
		}
	}
	check("as it happened")
	e.mu.Lock()
	e.aside = map[string]SetAside{}
	e.mu.Unlock()
	if err := e.RefreshAside(); err != nil {
		t.Fatal(err)
	}
	check("rebuilt from the records")
}
