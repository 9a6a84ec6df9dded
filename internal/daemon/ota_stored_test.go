package daemon

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"posd/cmd/tms-sim/repo"
)

// TestStoredBundleThisFirmwareCannotUse: a parameter bundle applied under
// a newer firmware (a section or risk key only it knows) stays in the
// database when that firmware's trial is rolled back. The firmware rolled
// back to must still start: on the configuration's parameters, saying
// why, and the next check puts the repository's set in use again.
func TestStoredBundleThisFirmwareCannotUse(t *testing.T) {
	ctx := context.Background()
	rp, err := repo.New(filepath.Join(t.TempDir(), "repo"), repo.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(rp.Handler())
	t.Cleanup(hs.Close)
	srv := hs.URL
	root := filepath.Join(t.TempDir(), "root.json")
	if err := os.WriteFile(root, rp.RootJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := []byte(`{"version": 2, "created": "2026-03-01T10:00:00Z", "sections": {"limits": {"offline": {"floor_limit": 5000}}}}`)
	if err := rp.AddTarget("params/params-2.json", bundle, map[string]any{"kind": "params", "version": 2}); err != nil {
		t.Fatal(err)
	}
	if err := rp.Publish(); err != nil {
		t.Fatal(err)
	}
	r := newConsoleRigWith(t, `"host":{"addr":"127.0.0.1:1"},"ota":{"url":"`+srv+`","root":"`+root+`","interval":"1h"}`)
	d := r.open()
	if err := d.otaRound(ctx); err != nil {
		t.Fatal(err)
	}
	if p := d.Params(); p.Version != 2 || d.Risk.Rules().Offline.FloorLimit != 5000 {
		t.Fatalf("parameters after the update: %+v, floor limit %d", p, d.Risk.Rules().Offline.FloorLimit)
	}
	closeDaemon(t, d)

	// What a newer firmware applied: version 3, with a risk key this one
	// does not know.
	db, err := bbolt.Open(filepath.Join(r.cfg.DataDir, "posd.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	newer := []byte(`{"version": 3, "created": "2026-03-02T10:00:00Z", "sections": {"risk": {"loyalty_points": {"enabled": true}}}}`)
	if err := db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(otaBucket)
		if err := b.Put(otaBundleKey, newer); err != nil {
			return err
		}
		return b.Put(otaParamsKey, []byte(`{"version":3,"target":"params/params-3.json","sha256":"00"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	d, err = Open(ctx, r.cfg, "test", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("posd does not start on a bundle of a newer firmware: %v", err)
	}
	defer closeDaemon(t, d)
	cfgFloor := r.cfg.Settings().Risk.Offline.FloorLimit
	if p := d.Params(); p.Version != 0 || d.Risk.Rules().Offline.FloorLimit != cfgFloor {
		t.Errorf("in use after the rollback: %+v, floor limit %d (the configuration's: %d)", p, d.Risk.Rules().Offline.FloorLimit, cfgFloor)
	}
	if !strings.Contains(logs.String(), "stored parameter bundle") || !strings.Contains(logs.String(), "loyalty_points") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
	h, err := d.OTAHistory(10)
	if err != nil || len(h) == 0 || h[0].Kind != "params" || h[0].Result != "dropped" || h[0].Version != 3 || !strings.Contains(h[0].Detail, "loyalty_points") {
		t.Errorf("history: %+v %v", h, err)
	}
	// The next check takes the repository's set again.
	if err := d.otaRound(ctx); err != nil {
		t.Fatal(err)
	}
	if p := d.Params(); p.Version != 2 || d.Risk.Rules().Offline.FloorLimit != 5000 {
		t.Errorf("after the next check: %+v, floor limit %d", p, d.Risk.Rules().Offline.FloorLimit)
	}
}

// A parameter bundle whose risk rules are in another currency than the
// terminal sells in is refused whole: every sale would be refused after
// the card was read.
func TestParamsWithRulesInAnotherCurrencyRefused(t *testing.T) {
	r := newConsoleRigWith(t, `"host":{"addr":"127.0.0.1:1"}`)
	d := r.open()
	defer closeDaemon(t, d)
	bad := []byte(`{"version": 2, "created": "2026-03-01T10:00:00Z", "sections": {"risk": {"currency": "USD"}}}`)
	if _, _, err := d.prepareParams(bad); err == nil || !strings.Contains(err.Error(), "risk rules' currency") {
		t.Fatalf("rules in USD on a CNY terminal: %v", err)
	}
	good := []byte(`{"version": 2, "created": "2026-03-01T10:00:00Z", "sections": {"risk": {"currency": "156"}}}`)
	if _, _, err := d.prepareParams(good); err != nil {
		t.Fatalf("rules in CNY: %v", err)
	}
}
