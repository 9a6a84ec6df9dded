package store

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// A record written before settled_by_hand existed reads without it; once
// set it is stored and survives later rewrites and a reopen.
func TestSettledByHandIsAnOptionalField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	d := open(t, path)
	a := Txn{Kind: "purchase", Amount: 200, Currency: "156", State: StateOfflineApproved, AdviceCode: "Q1"}
	if err := d.Create(&a); err != nil {
		t.Fatal(err)
	}
	d.Close()

	// The record as an older build wrote it.
	var rec map[string]any
	json.Unmarshal(rawRecord(t, path, a.ID, nil), &rec)
	delete(rec, "settled_by_hand")
	old, _ := json.Marshal(rec)
	rawRecord(t, path, a.ID, old)

	d = open(t, path)
	got, err := d.Get(a.ID)
	if err != nil || got.Hand != nil || got.AdviceCode != "Q1" {
		t.Fatalf("old record: %+v, %v", got, err)
	}
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	h := Hand{At: at, By: "carol (admin)", Why: "advice_refused", Outcome: "settled", Ref: "ACQ-TICKET 7781"}
	if _, err := d.Update(a.ID, func(r *Txn) error { r.Hand = &h; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Update(a.ID, func(r *Txn) error { r.Error = "later rewrite"; return nil }); err != nil {
		t.Fatal(err)
	}
	d.Close()

	d = open(t, path)
	defer d.Close()
	got, err = d.Get(a.ID)
	if err != nil || got.Hand == nil || *got.Hand != h || got.State != StateOfflineApproved {
		t.Fatalf("settled record after a reopen: %+v, %v", got.Hand, err)
	}
	raw := rawRecord2(t, d, a.ID)
	if !bytes.Contains(raw, []byte(`"settled_by_hand":{"at":"2026-11-29T10:00:00Z","by":"carol (admin)","why":"advice_refused","outcome":"settled","reference":"ACQ-TICKET 7781"}`)) {
		t.Errorf("stored record:\n%s", raw)
	}
}

// rawRecord2 is record id's stored bytes, the database open.
func rawRecord2(t *testing.T, d *DB, id string) []byte {
	t.Helper()
	seq, _ := parseID(id)
	var out []byte
	if err := d.View(func(tx *Tx) error {
		out = bytes.Clone(tx.Bolt().Bucket(bucketTxns).Get(key(seq)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
