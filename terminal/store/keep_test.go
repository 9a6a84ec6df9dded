package store

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rawRecord reads or replaces record id's stored bytes with the database
// closed.
func rawRecord(t *testing.T, path, id string, with []byte) []byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seq, _ := parseID(id)
	var out []byte
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTxns)
		if with != nil {
			return b.Put(key(seq), with)
		}
		out = bytes.Clone(b.Get(key(seq)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A firmware rolled back to this build rewrites a record a newer build
// wrote: the fields this build does not know survive, beside the update.
func TestUpdateKeepsFieldsOfNewerBuilds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	d := open(t, path)
	a := Txn{Kind: "purchase", Amount: 1000, Currency: "156", State: StateApproved,
		Wallet: &Wallet{Platform: "wechat", OrderID: "P1"}}
	if err := d.Create(&a); err != nil {
		t.Fatal(err)
	}
	plain := Txn{Kind: "purchase", Amount: 5, Currency: "156"}
	d.Create(&plain)
	d.Close()

	// The newer build's record: a top-level field, one inside the wallet
	// object, a big number that must stay exact.
	var rec map[string]any
	json.Unmarshal(rawRecord(t, path, a.ID, nil), &rec)
	rec["loyalty"] = map[string]any{"points": 12, "card": "L-7"}
	rec["future_total"] = json.Number("123456789012345678")
	rec["wallet"].(map[string]any)["coupon"] = "C9"
	newer, _ := json.Marshal(rec)
	rawRecord(t, path, a.ID, newer)

	d = open(t, path)
	if _, err := d.Update(a.ID, func(r *Txn) error { r.Refunded = 300; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Update(plain.ID, func(r *Txn) error { r.State = StateAuthSent; return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(a.ID)
	d.Close()
	if err != nil || got.Refunded != 300 || got.Wallet == nil || got.Wallet.OrderID != "P1" {
		t.Fatalf("updated record: %+v %v", got, err)
	}
	after := rawRecord(t, path, a.ID, nil)
	for _, want := range []string{`"loyalty":{"card":"L-7","points":12}`, `"future_total":123456789012345678`, `"coupon":"C9"`, `"refunded":300`} {
		if !bytes.Contains(after, []byte(want)) {
			t.Errorf("rewritten record lacks %s:\n%s", want, after)
		}
	}
	// A record this build wrote is stored exactly as put stores it.
	p, _ := json.Marshal(mustGet(t, path, plain.ID))
	if got := rawRecord(t, path, plain.ID, nil); !bytes.Equal(got, p) {
		t.Errorf("record of this build rewritten differently:\n%s\n%s", got, p)
	}

	// This build removes the wallet: its unknown inner field goes with it;
	// the top-level ones stay.
	d = open(t, path)
	if _, err := d.Update(a.ID, func(r *Txn) error { r.Wallet = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	d.Close()
	after = rawRecord(t, path, a.ID, nil)
	if bytes.Contains(after, []byte("coupon")) || !bytes.Contains(after, []byte(`"loyalty"`)) || bytes.Contains(after, []byte(`"wallet"`)) {
		t.Errorf("after removing the wallet:\n%s", after)
	}
}

func mustGet(t *testing.T, path, id string) Txn {
	t.Helper()
	d := open(t, path)
	defer d.Close()
	r, err := d.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// So does a job of the outbox a newer build queued, retried by this one.
func TestPutJobKeepsFieldsOfNewerBuilds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	d := open(t, path)
	j := Job{Kind: JobReversal, TxnID: "1"}
	if err := d.Do(func(tx *Tx) error { return tx.Enqueue(&j) }); err != nil {
		t.Fatal(err)
	}
	d.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		v := bytes.Replace(b.Get(key(j.Seq)), []byte(`{`), []byte(`{"priority":7,`), 1)
		return b.Put(key(j.Seq), v)
	})
	db.Close()

	d = open(t, path)
	err = d.Do(func(tx *Tx) error {
		jobs, err := tx.Jobs()
		if err != nil || len(jobs) != 1 {
			t.Fatalf("jobs %+v %v", jobs, err)
		}
		jobs[0].Attempts++
		return tx.PutJob(&jobs[0])
	})
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, _ = bolt.Open(path, 0o600, nil)
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketOutbox).Get(key(j.Seq))
		if !bytes.Contains(v, []byte(`"priority":7`)) || !bytes.Contains(v, []byte(`"attempts":1`)) {
			t.Errorf("retried job: %s", v)
		}
		return nil
	})
}
