package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"posd/conn/clock"
)

func newRepo(t *testing.T, o Opts) (*Repo, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := New(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

func get(t *testing.T, h http.Handler, p string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, p, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestLayout: New and Publish write the consistent-snapshot layout, each
// file signed by its role's keys as root names them, the timestamp naming
// the snapshot and the snapshot naming targets by version, length and
// hash; targets are hash-prefixed with their custom metadata.
func TestLayout(t *testing.T) {
	r, dir := newRepo(t, Opts{})
	for _, f := range []string{"1.root.json", "root.json", "1.targets.json", "1.snapshot.json", "timestamp.json"} {
		if _, err := os.Stat(filepath.Join(dir, "metadata", f)); err != nil {
			t.Fatal(err)
		}
	}
	img := []byte("firmware image 12")
	if err := r.AddTarget("firmware/posd-12.img", img, map[string]any{"kind": "firmware", "version": 12}); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	b, err := os.ReadFile(filepath.Join(dir, "targets", "firmware", hex.EncodeToString(sum[:])+".posd-12.img"))
	if err != nil || !bytes.Equal(b, img) {
		t.Fatalf("target file: %v", err)
	}

	root, err := metadata.Root().FromBytes(r.RootJSON())
	if err != nil {
		t.Fatal(err)
	}
	if !root.Signed.ConsistentSnapshot || root.Signed.Version != 1 {
		t.Fatalf("root %+v", root.Signed)
	}
	if err := root.VerifyDelegate(Root, root); err != nil {
		t.Fatal(err)
	}
	ts, err := metadata.Timestamp().FromFile(filepath.Join(dir, "metadata", "timestamp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := root.VerifyDelegate(Timestamp, ts); err != nil {
		t.Fatal(err)
	}
	snapBytes, _ := os.ReadFile(filepath.Join(dir, "metadata", "2.snapshot.json"))
	if mf := ts.Signed.Meta["snapshot.json"]; ts.Signed.Version != 2 || mf.Version != 2 || mf.VerifyLengthHashes(snapBytes) != nil || mf.Length == 0 {
		t.Fatalf("timestamp %+v", ts.Signed)
	}
	snap, err := metadata.Snapshot().FromBytes(snapBytes)
	if err != nil || root.VerifyDelegate(Snapshot, snap) != nil {
		t.Fatalf("snapshot: %v", err)
	}
	tgBytes, _ := os.ReadFile(filepath.Join(dir, "metadata", "2.targets.json"))
	if mf := snap.Signed.Meta["targets.json"]; mf.Version != 2 || mf.VerifyLengthHashes(tgBytes) != nil {
		t.Fatalf("snapshot meta %+v", mf)
	}
	tg, err := metadata.Targets().FromBytes(tgBytes)
	if err != nil || root.VerifyDelegate(Targets, tg) != nil {
		t.Fatalf("targets: %v", err)
	}
	tf := tg.Signed.Targets["firmware/posd-12.img"]
	if tf == nil || tf.VerifyLengthHashes(img) != nil || tf.Custom == nil {
		t.Fatalf("target %+v", tf)
	}
	var cu map[string]any
	if err := json.Unmarshal(*tf.Custom, &cu); err != nil || cu["kind"] != "firmware" || cu["version"] != float64(12) {
		t.Fatalf("custom %s: %v", *tf.Custom, err)
	}
	for _, role := range []string{Root, Targets, Snapshot, Timestamp} {
		if r.Version(role) != map[string]int64{Root: 1, Targets: 2, Snapshot: 2, Timestamp: 2}[role] {
			t.Fatalf("%s version %d", role, r.Version(role))
		}
	}

	for _, bad := range []string{"", "/abs", "a/../b", "../x", "a//b", "dir/", ".", `a\b`} {
		if err := r.AddTarget(bad, img, nil); err == nil {
			t.Errorf("AddTarget(%q) accepted", bad)
		}
	}
}

// TestHandler: files and Range requests are served, requests recorded with
// the terminal id, paths outside the repository and other methods refused,
// tampering and cutting work and are undone by Restore.
func TestHandler(t *testing.T) {
	var hooked atomic.Int32
	r, _ := newRepo(t, Opts{OnRequest: func(Request) { hooked.Add(1) }})
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := r.AddTarget("params/emv-3.json", data, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		t.Fatal(err)
	}
	h := r.Handler()
	tp, err := r.TargetPath("params/emv-3.json")
	if err != nil {
		t.Fatal(err)
	}
	if w := get(t, h, tp, TerminalHeader, "T9"); w.Code != 200 || !bytes.Equal(w.Body.Bytes(), data) {
		t.Fatalf("GET %s: %d", tp, w.Code)
	}
	w := get(t, h, tp, TerminalHeader, "T9", "Range", "bytes=9000-")
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), data[9000:]) || w.Header().Get("Content-Range") != "bytes 9000-9999/10000" {
		t.Fatalf("range: %d %q", w.Code, w.Header().Get("Content-Range"))
	}
	qs := r.Requests()
	if len(qs) != 2 || qs[1].TerminalID != "T9" || qs[1].Range != "bytes=9000-" || qs[1].Status != 206 || qs[1].Bytes != 1000 || hooked.Load() != 2 {
		t.Fatalf("requests %+v", qs)
	}
	for _, p := range []string{"/metadata/../../etc/passwd", "/etc/passwd", "/metadata/", "/targets/params", "/metadata/9.root.json", "/metadata/.tmp-x"} {
		if w := get(t, h, p); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, w.Code)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/metadata/timestamp.json", nil)
	pw := httptest.NewRecorder()
	h.ServeHTTP(pw, req)
	if pw.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", pw.Code)
	}

	r.Tamper("/metadata/timestamp.json", []byte("evil"))
	if w := get(t, h, "/metadata/timestamp.json"); w.Body.String() != "evil" {
		t.Fatalf("tampered: %q", w.Body.String())
	}
	if b, _ := r.File("/metadata/timestamp.json"); bytes.Equal(b, []byte("evil")) {
		t.Fatal("File shows the tampered bytes")
	}
	r.Restore("/metadata/timestamp.json")
	if w := get(t, h, "/metadata/timestamp.json"); w.Body.String() == "evil" {
		t.Fatal("Restore did not restore")
	}

	// A cut over a real connection: the client sees the body end early.
	srv := httptest.NewServer(h)
	defer srv.Close()
	r.Cut(tp, 4000, 1)
	resp, err := srv.Client().Get(srv.URL + tp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(got, data[:4000]) {
		t.Fatalf("cut: %d bytes, %v", len(got), err)
	}
	resp, err = srv.Client().Get(srv.URL + tp)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after the cut: %d bytes, %v", len(got), err)
	}
}

// TestExpiryAndSigners: SetExpiry, SignOnly and SignForeign change what the
// next Publish signs.
func TestExpiryAndSigners(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	r, dir := newRepo(t, Opts{Clock: clk, Threshold: map[string]int{Targets: 2}, Keys: map[string]int{Targets: 3}})
	root, _ := metadata.Root().FromBytes(r.RootJSON())
	if th := root.Signed.Roles[Targets].Threshold; th != 2 || len(root.Signed.Roles[Targets].KeyIDs) != 3 {
		t.Fatalf("targets role %+v", root.Signed.Roles[Targets])
	}
	if err := r.SetExpiry(Timestamp, -time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := r.SignOnly(Targets, 1); err != nil {
		t.Fatal(err)
	}
	if err := r.SignForeign(Snapshot, true); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		t.Fatal(err)
	}
	ts, _ := metadata.Timestamp().FromFile(filepath.Join(dir, "metadata", "timestamp.json"))
	if !ts.Signed.Expires.Equal(clk.Now().Add(-time.Hour)) {
		t.Fatalf("timestamp expires %v", ts.Signed.Expires)
	}
	tg, _ := metadata.Targets().FromFile(filepath.Join(dir, "metadata", "2.targets.json"))
	if len(tg.Signatures) != 1 || root.VerifyDelegate(Targets, tg) == nil {
		t.Fatalf("targets signed %d times and accepted", len(tg.Signatures))
	}
	snap, _ := metadata.Snapshot().FromFile(filepath.Join(dir, "metadata", "2.snapshot.json"))
	if root.VerifyDelegate(Snapshot, snap) == nil {
		t.Fatal("foreign-signed snapshot verifies")
	}
	if err := r.SetExpiry("nobody", time.Hour); err == nil {
		t.Fatal("SetExpiry of an unknown role")
	}
	if err := r.PublishWith(PublishOpts{NameSnapshot: 1, NameTargets: 1}); err == nil {
		t.Fatal("PublishWith naming both")
	}
	if err := r.PublishWith(PublishOpts{NameSnapshot: 1}); err != nil {
		t.Fatal(err)
	}
	ts, _ = metadata.Timestamp().FromFile(filepath.Join(dir, "metadata", "timestamp.json"))
	if ts.Signed.Version != 3 || ts.Signed.Meta["snapshot.json"].Version != 1 {
		t.Fatalf("timestamp naming snapshot 1: %+v", ts.Signed)
	}
}

// TestRotateKeys: a new root is signed by the old root keys and the new
// ones (go-tuf's check of a root update), or by the new only on request.
func TestRotateKeys(t *testing.T) {
	r, dir := newRepo(t, Opts{})
	old, _ := metadata.Root().FromBytes(r.RootJSON())
	if err := r.RotateKeys(Rotation{Roles: []string{Root, Timestamp}}); err != nil {
		t.Fatal(err)
	}
	next, err := metadata.Root().FromFile(filepath.Join(dir, "metadata", "2.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	if next.Signed.Version != 2 || old.VerifyDelegate(Root, next) != nil || next.VerifyDelegate(Root, next) != nil {
		t.Fatal("rotated root not signed by old and new keys")
	}
	if next.Signed.Roles[Timestamp].KeyIDs[0] == old.Signed.Roles[Timestamp].KeyIDs[0] {
		t.Fatal("timestamp key not rotated")
	}
	ts, _ := metadata.Timestamp().FromFile(filepath.Join(dir, "metadata", "timestamp.json"))
	if next.VerifyDelegate(Timestamp, ts) != nil || r.Version(Timestamp) != 2 {
		t.Fatal("timestamp not republished under the new key")
	}
	if err := r.RotateKeys(Rotation{WithoutOldKeys: true}); err != nil {
		t.Fatal(err)
	}
	forged, _ := metadata.Root().FromFile(filepath.Join(dir, "metadata", "3.root.json"))
	if next.VerifyDelegate(Root, forged) == nil {
		t.Fatal("rotation without old keys verifies under the old root")
	}
	if err := r.RotateKeys(Rotation{Roles: []string{"nobody"}}); err == nil {
		t.Fatal("rotation of an unknown role")
	}
}

// TestSlow: a slowed prefix serves its bodies chunk bytes at a time,
// every apart by the repository's clock (ranges too), until Restore.
func TestSlow(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	r, _ := newRepo(t, Opts{Clock: clk})
	data := []byte("0123456789")
	if err := r.AddTarget("firmware/posd-2.img", data, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(); err != nil {
		t.Fatal(err)
	}
	tp, err := r.TargetPath("firmware/posd-2.img")
	if err != nil {
		t.Fatal(err)
	}
	r.Slow("/targets/", 4, 5*time.Second)
	for _, c := range []struct {
		rng   string
		want  []byte
		waits int
	}{{"", data, 2}, {"bytes=3-", data[3:], 1}} {
		start := clk.Now()
		done := make(chan *httptest.ResponseRecorder, 1)
		// served ends the waits for the pace once the body is whole.
		served, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		go func() {
			done <- get(t, r.Handler(), tp, "Range", c.rng)
			cancel()
		}()
		for clk.BlockUntil(served, 1) == nil {
			clk.Advance(5 * time.Second)
		}
		cancel()
		w := <-done
		if !bytes.Equal(w.Body.Bytes(), c.want) || clk.Now().Sub(start) != time.Duration(c.waits)*5*time.Second {
			t.Fatalf("range %q: %q after %v", c.rng, w.Body.Bytes(), clk.Now().Sub(start))
		}
	}
	r.Restore("/targets/")
	if w := get(t, r.Handler(), tp); !bytes.Equal(w.Body.Bytes(), data) {
		t.Fatalf("restored: %q", w.Body.Bytes())
	}
}
