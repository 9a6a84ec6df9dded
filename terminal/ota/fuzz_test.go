package ota

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"testing"

	"posd/cmd/tms-sim/repo"
)

// FuzzMetadata feeds arbitrary bytes to a terminal as the repository's
// timestamp, snapshot or targets metadata, through the repository's
// handler. The terminal must never panic, and never accept anything but
// what the repository signed: when a Check succeeds, it offers exactly the
// genuine targets. The repository names snapshot and targets by version
// only, so the bytes reach go-tuf's parser and signature checks rather
// than stopping at a hash.
func FuzzMetadata(f *testing.F) {
	r, err := repo.New(f.TempDir(), repo.Opts{OmitMetaHashes: true})
	if err != nil {
		f.Fatal(err)
	}
	if err := r.AddTarget("params/emv-2.json", bundleJSON(2), map[string]any{"kind": KindParams, "version": 2}); err != nil {
		f.Fatal(err)
	}
	if err := r.AddTarget("firmware/posd-2.img", []byte("image"), map[string]any{"kind": KindFirmware, "version": 2}); err != nil {
		f.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		f.Fatal(err)
	}
	paths := []string{"/metadata/timestamp.json", "/metadata/2.snapshot.json", "/metadata/2.targets.json"}
	root := r.RootJSON()
	hc := &http.Client{Transport: handlerTransport{r.Handler()}}
	newClient := func(tb testing.TB) *Client {
		c, err := New(Opts{BaseURL: "http://tms.test", TerminalID: "F1", Root: root, Dir: tb.TempDir(), HTTP: hc})
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}
	genuine, err := newClient(f).Check(context.Background())
	if err != nil || len(genuine) != 2 {
		f.Fatalf("genuine check: %v %v", genuine, err)
	}
	for i, p := range paths {
		b, err := r.File(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
		f.Add(uint8(i), b[:len(b)/2])
		f.Add(uint8(i), bytes.Replace(b, []byte(`"version": 2`), []byte(`"version": 3`), 1))
		f.Add(uint8(i), bytes.Replace(b, []byte(`"signatures"`), []byte(`"signatures_"`), 1))
	}
	f.Add(uint8(0), []byte(`{}`))
	f.Add(uint8(1), []byte(`{"signed":{"_type":"snapshot","version":2,"meta":{}},"signatures":[]}`))
	f.Add(uint8(2), []byte(`{"signed":{"_type":"targets","version":2,"expires":"2100-01-01T00:00:00Z","targets":{"x":{"length":-1,"hashes":{}}}},"signatures":[{"keyid":"00","sig":"00"}]}`))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		p := paths[int(which)%len(paths)]
		r.Tamper(p, data)
		defer r.Restore(p)
		ts, err := newClient(t).Check(context.Background())
		if err != nil {
			if ts != nil {
				t.Fatalf("refused check returned %v", ts)
			}
			return
		}
		if !reflect.DeepEqual(ts, genuine) {
			t.Fatalf("accepted forged metadata at %s: %v", p, ts)
		}
	})
}
