package ota

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
)

// TestUpdateFoundAndFetched: the normal path. A published bundle and
// image are found with their signed description, Newer picks by version,
// Fetch returns exactly the bytes, and a second Fetch does not download
// again.
func TestUpdateFoundAndFetched(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	c := e.client("T1")
	if ts := mustCheck(t, c); len(ts) != 0 {
		t.Fatalf("empty repository offers %v", ts)
	}
	img := bytes.Repeat([]byte("posd firmware "), 5000)
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.add("params/emv-1.json", bundleJSON(1), KindParams, 1)
	e.add("firmware/posd-3.img", img, KindFirmware, 3)
	e.publish()

	ts := mustCheck(t, c)
	if len(ts) != 3 {
		t.Fatalf("targets %v", ts)
	}
	fw := find(t, ts, "firmware/posd-3.img")
	sum := sha256.Sum256(img)
	if fw.Length != int64(len(img)) || fw.SHA256 != hex.EncodeToString(sum[:]) || fw.Kind != KindFirmware || fw.Version != 3 {
		t.Fatalf("firmware target %+v", fw)
	}
	p, ok := Newer(ts, KindParams, 1)
	if !ok || p.Name != "params/emv-2.json" || p.Version != 2 {
		t.Fatalf("Newer params above 1: %+v %v", p, ok)
	}
	if _, ok := Newer(ts, KindParams, 2); ok {
		t.Fatal("Newer offered params at the running version")
	}
	if _, ok := Newer(ts, KindFirmware, 7); ok {
		t.Fatal("Newer offered older firmware")
	}

	b, err := c.Fetch(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	bun, err := ParseBundle(b)
	if err != nil || bun.Version != 2 {
		t.Fatalf("bundle %+v, %v", bun, err)
	}
	got, err := c.Fetch(context.Background(), fw)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("firmware: %d bytes, %v", len(got), err)
	}
	before := len(e.requests("T1", "/targets/"))
	if got, err := c.Fetch(context.Background(), fw); err != nil || !bytes.Equal(got, img) {
		t.Fatalf("second fetch: %d bytes, %v", len(got), err)
	}
	if after := len(e.requests("T1", "/targets/")); after != before {
		t.Fatalf("the second fetch downloaded again (%d → %d requests)", before, after)
	}
	if qs := e.requests("T1", "/targets/firmware/"+fw.SHA256+".posd-3.img"); len(qs) != 1 {
		t.Fatalf("firmware requests %+v (hash-prefixed path expected)", qs)
	}

	// A target changed since the Check is not fetched as described.
	stale := fw
	stale.SHA256 = strings.Repeat("0", 64)
	if _, err := c.Fetch(context.Background(), stale); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch of a target not offered: %v", err)
	}
	// A target withdrawn is pruned from Dir at the next Check.
	e.repo.RemoveTarget("firmware/posd-3.img")
	e.publish()
	if ts := mustCheck(t, c); len(ts) != 2 {
		t.Fatalf("after removal %v", ts)
	}
	if _, err := os.Stat(filepath.Join(c.targetsDir, "firmware%2Fposd-3.img")); !os.IsNotExist(err) {
		t.Fatalf("withdrawn target still kept: %v", err)
	}
}

// TestArbitraryTarget: the server (or a man in the middle) serves other
// bytes for a target. go-tuf's hash check refuses them; nothing is
// returned or kept, and the genuine file is fetched once it is back.
func TestArbitraryTarget(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	img := bytes.Repeat([]byte{0xA5}, 64<<10)
	e.add("firmware/posd-2.img", img, KindFirmware, 2)
	e.publish()
	c := e.client("T1")
	fw := find(t, mustCheck(t, c), "firmware/posd-2.img")

	evil := bytes.Repeat([]byte{0x5A}, len(img)) // same length, other bytes
	e.repo.Tamper(e.targetPath(fw.Name), evil)
	got, err := c.Fetch(context.Background(), fw)
	refused(t, got, err, ErrHash, "firmware/posd-2.img", "hash")
	noTargetFiles(t, c.o.Dir)

	e.repo.Restore(e.targetPath(fw.Name))
	got, err = c.Fetch(context.Background(), fw)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("genuine fetch after the attack: %d bytes, %v", len(got), err)
	}
}

// TestRollback: metadata older than what the terminal trusts is refused,
// whichever role is rolled back, and the terminal keeps what it trusts.
func TestRollback(t *testing.T) {
	t.Run("timestamp replayed", func(t *testing.T) {
		e := newEnv(t, repo.Opts{})
		old := e.file("/metadata/timestamp.json") // version 1, still valid
		e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
		e.publish()
		c := e.client("T1")
		mustCheck(t, c)
		e.repo.Tamper("/metadata/timestamp.json", old)
		ts, err := c.Check(context.Background())
		refused(t, ts, err, ErrRollback, "timestamp.json", "version 1")
		e.repo.Restore("/metadata/timestamp.json")
		if ts := mustCheck(t, c); len(ts) != 1 {
			t.Fatalf("after the replay %v", ts)
		}
	})
	t.Run("timestamp names an older snapshot", func(t *testing.T) {
		e := newEnv(t, repo.Opts{})
		e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
		e.publish() // snapshot 2
		c := e.client("T1")
		mustCheck(t, c)
		// A compromised timestamp key signs a fresh timestamp naming
		// snapshot 1 (with no targets).
		if err := e.repo.PublishWith(repo.PublishOpts{NameSnapshot: 1}); err != nil {
			t.Fatal(err)
		}
		ts, err := c.Check(context.Background())
		refused(t, ts, err, ErrRollback, "timestamp.json", "snapshot version 1")
	})
	t.Run("snapshot names older targets", func(t *testing.T) {
		e := newEnv(t, repo.Opts{})
		e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
		e.publish() // targets 2
		c := e.client("T1")
		p := find(t, mustCheck(t, c), "params/emv-2.json")
		// A compromised snapshot key names targets 1 again.
		if err := e.repo.PublishWith(repo.PublishOpts{NameTargets: 1}); err != nil {
			t.Fatal(err)
		}
		ts, err := c.Check(context.Background())
		refused(t, ts, err, ErrRollback, "snapshot.json", "targets.json")
		// Nothing is fetched on the strength of a refused refresh.
		got, err := c.Fetch(context.Background(), p)
		refused(t, got, err, ErrRollback)
	})
}

// TestFreeze: a repository that stops publishing (or an attacker who
// keeps serving the last timestamp) is refused once the timestamp has
// expired by the terminal's clock.
func TestFreeze(t *testing.T) {
	t.Run("expired timestamp published", func(t *testing.T) {
		e := newEnv(t, repo.Opts{})
		c := e.client("T1")
		mustCheck(t, c)
		if err := e.repo.SetExpiry(repo.Timestamp, -time.Hour); err != nil {
			t.Fatal(err)
		}
		e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
		e.publish()
		ts, err := c.Check(context.Background())
		refused(t, ts, err, ErrExpired, "timestamp.json", "expired")
	})
	t.Run("last timestamp served after it expired", func(t *testing.T) {
		clk := clock.NewFake(time.Now().UTC())
		e := newEnv(t, repo.Opts{Clock: clk})
		e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
		e.publish()
		c := e.client("T1", func(o *Opts) { o.Clock = clk })
		mustCheck(t, c)
		clk.Advance(25 * time.Hour) // the timestamp lives a day
		ts, err := c.Check(context.Background())
		refused(t, ts, err, ErrExpired, "timestamp.json")
		e.publish() // the repository signs a fresh timestamp
		if ts := mustCheck(t, c); len(ts) != 1 {
			t.Fatalf("after a fresh timestamp %v", ts)
		}
	})
}

// TestFreezeClockSetBack: an attacker who freezes the repository and can
// set the terminal's clock (an unauthenticated time source, a board
// without a real-time clock booting at an old time) sets it back once
// the terminal refuses the expired timestamp. The terminal never judges
// expiry by a time before one it has already seen: not in the same run,
// not after a restart.
func TestFreezeClockSetBack(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	e := newEnv(t, repo.Opts{Clock: clk})
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.publish()
	c := e.client("T1", func(o *Opts) { o.Clock = clk })
	mustCheck(t, c)
	clk.Advance(25 * time.Hour) // the timestamp lives a day
	ts, err := c.Check(context.Background())
	refused(t, ts, err, ErrExpired, "timestamp.json")

	clk.Advance(-24 * time.Hour) // the clock is set back; the repository stays frozen
	ts, err = c.Check(context.Background())
	refused(t, ts, err, ErrExpired, "timestamp.json", "check the time source")
	restarted := e.client("T1", func(o *Opts) { o.Clock = clk; o.Dir = c.o.Dir })
	ts, err = restarted.Check(context.Background())
	refused(t, ts, err, ErrExpired, "timestamp.json")

	// A fresh timestamp signed at the true time is accepted again.
	clk.Advance(24 * time.Hour)
	e.publish()
	clk.Advance(-24 * time.Hour)
	if ts := mustCheck(t, restarted); len(ts) != 1 {
		t.Fatalf("after a fresh timestamp %v", ts)
	}
}

// TestFreezeClockAhead: a clock that ran ahead for a while makes the
// terminal refuse the timestamp it trusts, but not the repository's next
// timestamp once the clock is right again: the floor rises to a signed
// expiry, never to the clock's reading.
func TestFreezeClockAhead(t *testing.T) {
	for _, ahead := range []time.Duration{3 * 24 * time.Hour, 10 * 365 * 24 * time.Hour} {
		t.Run(ahead.String(), func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
			e := newEnv(t, repo.Opts{Clock: clk})
			e.publish()
			c := e.client("T1", func(o *Opts) { o.Clock = clk })
			mustCheck(t, c)
			clk.Advance(ahead)
			ts, err := c.Check(context.Background())
			// The engineer sees when it expired and what the clock says.
			refused(t, ts, err, ErrExpired, "expired at 20", "clock says "+clk.Now().Format(time.RFC3339))
			clk.Advance(-ahead + 2*time.Hour) // right again, two hours after the check
			e.publish()
			mustCheck(t, e.client("T1", func(o *Opts) { o.Clock = clk; o.Dir = c.o.Dir }))
		})
	}
}

// TestMixAndMatch: a snapshot or targets file other than the one its
// signed parent names (here the previous, validly signed, version) is
// refused, whether the parent names it by hash or by version only.
func TestMixAndMatch(t *testing.T) {
	for _, omit := range []bool{false, true} {
		name := "by hash"
		if omit {
			name = "by version"
		}
		t.Run(name, func(t *testing.T) {
			// A clock on whole seconds: every version has the same length
			// (a longer file would be refused as too large, before its
			// hash is checked).
			clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
			e := newEnv(t, repo.Opts{OmitMetaHashes: omit, Clock: clk})
			e.add("firmware/posd-2.img", []byte("image two"), KindFirmware, 2)
			e.publish() // 2
			e.add("firmware/posd-3.img", []byte("image three"), KindFirmware, 3)
			e.publish() // 3
			c := e.client("T1", func(o *Opts) { o.Clock = clk })
			e.repo.Tamper("/metadata/3.targets.json", e.file("/metadata/2.targets.json"))
			ts, err := c.Check(context.Background())
			refused(t, ts, err, ErrMixAndMatch, "3.targets.json")
			e.repo.Restore("/metadata/3.targets.json")

			// (c trusts snapshot 3 now: a terminal that does not yet.)
			c2 := e.client("T2", func(o *Opts) { o.Clock = clk })
			e.repo.Tamper("/metadata/3.snapshot.json", e.file("/metadata/2.snapshot.json"))
			ts, err = c2.Check(context.Background())
			refused(t, ts, err, ErrMixAndMatch, "3.snapshot.json")
			e.repo.Restore("/metadata/3.snapshot.json")
			if ts := mustCheck(t, c2); len(ts) != 2 {
				t.Fatalf("genuine %v", ts)
			}
		})
	}
}

// TestEndlessData: downloads are bounded. A target larger than MaxTarget
// is not downloaded at all; a server that sends more than a target's
// signed length, or an endless metadata file, is cut off after the bound
// and refused.
func TestEndlessData(t *testing.T) {
	t.Run("target above MaxTarget", func(t *testing.T) {
		e := newEnv(t, repo.Opts{})
		e.add("firmware/posd-9.img", make([]byte, 8<<10), KindFirmware, 9)
		e.publish()
		c := e.client("T1", func(o *Opts) { o.MaxTarget = 4 << 10 })
		fw := find(t, mustCheck(t, c), "firmware/posd-9.img")
		got, err := c.Fetch(context.Background(), fw)
		refused(t, got, err, ErrTooLarge, "posd-9.img")
		if qs := e.requests("T1", "/targets/"); len(qs) != 0 {
			t.Fatalf("downloaded %+v", qs)
		}
	})
	t.Run("target longer than signed", func(t *testing.T) {
		e := newEnv(t, repo.Opts{})
		e.add("firmware/posd-2.img", make([]byte, 10<<10), KindFirmware, 2)
		e.publish()
		c := e.client("T1")
		fw := find(t, mustCheck(t, c), "firmware/posd-2.img")
		h, sent, done := endless()
		e.repo.Override(e.targetPath(fw.Name), h)
		got, err := c.Fetch(context.Background(), fw)
		refused(t, got, err, ErrTooLarge, "posd-2.img")
		<-done
		t.Logf("the server got %d bytes out before the terminal hung up", sent.Load())
		if sent.Load() > 64<<20 {
			t.Fatalf("the terminal read on: %d bytes sent", sent.Load())
		}
		noTargetFiles(t, c.o.Dir)
		// Declared too long: refused before reading.
		e.repo.Tamper(e.targetPath(fw.Name), make([]byte, 20<<10))
		got, err = c.Fetch(context.Background(), fw)
		refused(t, got, err, ErrTooLarge)
	})
	for _, p := range []string{"/metadata/timestamp.json", "/metadata/2.snapshot.json", "/metadata/2.targets.json", "/metadata/2.root.json"} {
		t.Run("endless "+p, func(t *testing.T) {
			e := newEnv(t, repo.Opts{OmitMetaHashes: true}) // no signed lengths: MaxMetadata is the bound
			e.publish()
			c := e.client("T1", func(o *Opts) { o.MaxMetadata = 256 << 10 })
			h, sent, done := endless()
			e.repo.Override(p, h)
			ts, err := c.Check(context.Background())
			refused(t, ts, err, ErrTooLarge, filepath.Base(p))
			<-done
			if sent.Load() > 64<<20 {
				t.Fatalf("the terminal read on: %d bytes sent", sent.Load())
			}
		})
	}
	t.Run("snapshot longer than the timestamp says", func(t *testing.T) {
		e := newEnv(t, repo.Opts{})
		e.publish()
		c := e.client("T1")
		e.repo.Tamper("/metadata/2.snapshot.json", append(e.file("/metadata/2.snapshot.json"), bytes.Repeat([]byte(" "), 4096)...))
		ts, err := c.Check(context.Background())
		refused(t, ts, err, ErrTooLarge, "2.snapshot.json")
	})
}

// TestWrongSignature: metadata signed by a key the root does not name is
// refused, for every role the repository signs routinely.
func TestWrongSignature(t *testing.T) {
	for _, role := range []string{repo.Timestamp, repo.Snapshot, repo.Targets} {
		t.Run(role, func(t *testing.T) {
			e := newEnv(t, repo.Opts{})
			c := e.client("T1")
			mustCheck(t, c)
			if err := e.repo.SignForeign(role, true); err != nil {
				t.Fatal(err)
			}
			e.add("firmware/posd-2.img", []byte("evil"), KindFirmware, 2)
			e.publish()
			ts, err := c.Check(context.Background())
			refused(t, ts, err, ErrBadSignature, role, "got 0")
		})
	}
}

// TestThresholdNotMet: root requires two of the targets keys (and two of
// three timestamp keys); metadata signed by one is refused.
func TestThresholdNotMet(t *testing.T) {
	e := newEnv(t, repo.Opts{Threshold: map[string]int{repo.Targets: 2, repo.Timestamp: 2}, Keys: map[string]int{repo.Timestamp: 3}})
	c := e.client("T1")
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.publish()
	mustCheck(t, c) // both sign: accepted

	if err := e.repo.SignOnly(repo.Targets, 1); err != nil {
		t.Fatal(err)
	}
	e.add("params/emv-3.json", bundleJSON(3), KindParams, 3)
	e.publish()
	ts, err := c.Check(context.Background())
	refused(t, ts, err, ErrThreshold, "targets.json", "got 1, want 2")

	if err := e.repo.SignOnly(repo.Targets, -1); err != nil {
		t.Fatal(err)
	}
	if err := e.repo.SignOnly(repo.Timestamp, 1); err != nil {
		t.Fatal(err)
	}
	e.publish()
	ts, err = c.Check(context.Background())
	refused(t, ts, err, ErrThreshold, "timestamp.json", "got 1, want 2")

	if err := e.repo.SignOnly(repo.Timestamp, -1); err != nil {
		t.Fatal(err)
	}
	e.publish()
	if ts := mustCheck(t, c); len(ts) != 2 {
		t.Fatalf("fully signed %v", ts)
	}
}

// TestRootRotation: a terminal pinned to root 1 follows the chain to a
// root with new root and timestamp keys; a new root not signed by the
// keys of the root before it is refused.
func TestRootRotation(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	c := e.client("T1") // pins root 1
	mustCheck(t, c)
	if err := e.repo.RotateKeys(repo.Rotation{Roles: []string{repo.Root, repo.Timestamp}}); err != nil {
		t.Fatal(err)
	}
	if err := e.repo.RotateKeys(repo.Rotation{Threshold: map[string]int{repo.Root: 2}}); err != nil {
		t.Fatal(err)
	}
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.publish()
	if ts := mustCheck(t, c); len(ts) != 1 {
		t.Fatalf("after rotation %v", ts)
	}
	kept, err := verifiedRoot(mustRead(t, filepath.Join(c.o.Dir, "metadata", "root.json")))
	if err != nil || kept.Signed.Version != 3 {
		t.Fatalf("kept root %v, %v", kept, err)
	}
	// A fresh terminal still pinned to root 1 walks the same chain.
	if ts := mustCheck(t, e.client("T2", func(o *Opts) { o.Root = c.o.Root })); len(ts) != 1 {
		t.Fatalf("fresh terminal after rotation %v", ts)
	}

	if err := e.repo.RotateKeys(repo.Rotation{WithoutOldKeys: true}); err != nil {
		t.Fatal(err)
	}
	ts, err := c.Check(context.Background())
	refused(t, ts, err, ErrBadSignature, "4.root.json")
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResume: the connection is cut halfway through a target; the next
// Fetch continues with a Range request from where the first stopped (the
// server saw it) and the result is verified. A partial file spoiled
// meanwhile is caught by the hash check and started over in the same
// Fetch; a refusal is for the repository's bytes alone.
func TestResume(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	img := make([]byte, 300<<10)
	for i := range img {
		img[i] = byte(i * 7)
	}
	e.add("firmware/posd-4.img", img, KindFirmware, 4)
	e.publish()
	c := e.client("T1")
	fw := find(t, mustCheck(t, c), "firmware/posd-4.img")
	tp := e.targetPath(fw.Name)
	const half = 150 << 10
	e.repo.Cut(tp, half, 1)

	got, err := c.Fetch(context.Background(), fw)
	if err == nil || got != nil || !Transient(err) || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("cut fetch: %d bytes, %v", len(got), err)
	}
	t.Logf("cut: %v", err)
	partial := filepath.Join(c.o.Dir, "partial", partialName(fw.SHA256, fw.Length))
	st, err := os.Stat(partial)
	if err != nil || st.Size() != half {
		t.Fatalf("partial file after the cut: %v, %v", st, err)
	}

	got, err = c.Fetch(context.Background(), fw)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("resumed fetch: %d bytes, %v", len(got), err)
	}
	qs := e.requests("T1", tp)
	if len(qs) != 2 || qs[0].Range != "" || qs[1].Range != "bytes=153600-" || qs[1].Status != 206 || qs[1].Bytes != int64(len(img)-half) {
		t.Fatalf("requests %+v", qs)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatalf("partial file left: %v", err)
	}

	// Spoiled partial: cut again, flip a byte of what arrived.
	e.add("firmware/posd-5.img", img[:200<<10], KindFirmware, 5)
	e.publish()
	fw5 := find(t, mustCheck(t, c), "firmware/posd-5.img")
	e.repo.Cut(e.targetPath(fw5.Name), 50<<10, 1)
	if _, err := c.Fetch(context.Background(), fw5); !Transient(err) {
		t.Fatalf("cut: %v", err)
	}
	p5 := filepath.Join(c.o.Dir, "partial", partialName(fw5.SHA256, fw5.Length))
	b := mustRead(t, p5)
	b[100] ^= 0xFF
	if err := os.WriteFile(p5, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The resumed download does not match: what was kept may be at fault
	// (a power cut can leave a file's tail unwritten), so the same Fetch
	// starts over before it blames the repository.
	got, err = c.Fetch(context.Background(), fw5)
	if err != nil || !bytes.Equal(got, img[:200<<10]) {
		t.Fatalf("fetch over the spoiled partial: %d bytes, %v", len(got), err)
	}
	qs = e.requests("T1", e.targetPath(fw5.Name))
	if len(qs) != 3 || qs[1].Range != "bytes=51200-" || qs[2].Range != "" || qs[2].Bytes != fw5.Length {
		t.Fatalf("requests %+v", qs)
	}

	// A repository that serves other bytes is refused after the fresh try.
	e.add("firmware/posd-6.img", img[:100<<10], KindFirmware, 6)
	e.publish()
	fw6 := find(t, mustCheck(t, c), "firmware/posd-6.img")
	tp6 := e.targetPath(fw6.Name)
	e.repo.Cut(tp6, 30<<10, 1)
	if _, err := c.Fetch(context.Background(), fw6); !Transient(err) {
		t.Fatalf("cut: %v", err)
	}
	bad := bytes.Clone(img[:100<<10])
	bad[80<<10] ^= 0xFF
	e.repo.Tamper(tp6, bad)
	got, err = c.Fetch(context.Background(), fw6)
	refused(t, got, err, ErrHash)
	noPartial := filepath.Join(c.o.Dir, "partial", partialName(fw6.SHA256, fw6.Length))
	if _, err := os.Stat(noPartial); !os.IsNotExist(err) {
		t.Fatalf("refused partial kept: %v", err)
	}
	if qs := e.requests("T1", tp6); len(qs) != 3 || qs[2].Range != "" {
		t.Fatalf("requests %+v", qs)
	}
}

// TestFetchTimeout: a server that stalls midway is given up after
// FetchTimeout (ErrTimeout, transient); the next Fetch resumes.
func TestFetchTimeout(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	img := bytes.Repeat([]byte("0123456789abcdef"), 8<<10)
	e.add("firmware/posd-2.img", img, KindFirmware, 2)
	e.publish()
	c := e.client("T1")
	fw := find(t, mustCheck(t, c), "firmware/posd-2.img")
	c.o.FetchTimeout = 300 * time.Millisecond
	tp := e.targetPath(fw.Name)
	e.repo.Override(tp, httpStall(img, 40<<10))
	got, err := c.Fetch(context.Background(), fw)
	if got != nil || !errors.Is(err, ErrTimeout) || !Transient(err) {
		t.Fatalf("stalled fetch: %d bytes, %v", len(got), err)
	}
	t.Logf("stalled: %v", err)
	e.repo.Restore(tp)
	got, err = c.Fetch(context.Background(), fw)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("resumed: %d bytes, %v", len(got), err)
	}
	// (The stalled request may be logged after the resumed one: it ends
	// when its handler sees the terminal gone.)
	qs := e.requests("T1", tp)
	for deadline := time.Now().Add(5 * time.Second); len(qs) < 2 && time.Now().Before(deadline); qs = e.requests("T1", tp) {
		time.Sleep(10 * time.Millisecond)
	}
	resumed := 0
	for _, q := range qs {
		if q.Range == "bytes=40960-" && q.Status == 206 {
			resumed++
		}
	}
	if len(qs) != 2 || resumed != 1 {
		t.Fatalf("requests %+v", qs)
	}
}

func TestCheckCancelled(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	c := e.client("T1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ts, err := c.Check(ctx)
	if ts != nil || !errors.Is(err, context.Canceled) || Refused(err) {
		t.Fatalf("cancelled check: %v, %v", ts, err)
	}
	e.srv.Close()
	if _, err := e.client("T2").Check(context.Background()); !errors.Is(err, ErrUnreachable) || !Transient(err) {
		t.Fatalf("check of a closed server: %v", err)
	}
}

func TestNewOptions(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	for name, mod := range map[string]func(*Opts){
		"no url":      func(o *Opts) { o.BaseURL = "" },
		"ftp":         func(o *Opts) { o.BaseURL = "ftp://x/" },
		"no dir":      func(o *Opts) { o.Dir = "" },
		"no root":     func(o *Opts) { o.Root = nil },
		"bad root":    func(o *Opts) { o.Root = []byte(`{"signed":{}}`) },
		"header":      func(o *Opts) { o.TerminalID = "T1\r\nX: y" },
		"forged root": func(o *Opts) { o.Root = bytes.Replace(o.Root, []byte(`"version": 1`), []byte(`"version": 9`), 1) },
	} {
		o := e.opts("T1")
		mod(&o)
		if _, err := New(o); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestFreezeClockSetBackBeforeExpiry: the repository freezes and the
// clock is set back while the trusted timestamp is still valid, before
// any check saw it expire. Within the run, the time that really passed
// (Opts.Elapsed, which setting the clock does not change) still brings
// the frozen timestamp to its expiry: it is refused once that much time
// passed, and the floor is kept for the next start.
func TestFreezeClockSetBackBeforeExpiry(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	var mono time.Duration // advances only as time really passes
	pass := func(d time.Duration) { clk.Advance(d); mono += d }
	e := newEnv(t, repo.Opts{Clock: clk})
	e.add("params/emv-2.json", bundleJSON(2), KindParams, 2)
	e.publish()
	c := e.client("T1", func(o *Opts) { o.Clock = clk; o.Elapsed = func() time.Duration { return mono } })
	mustCheck(t, c)
	pass(23 * time.Hour)
	mustCheck(t, c)                   // the timestamp lives a day: still valid
	clk.Advance(-10 * 24 * time.Hour) // set back; the repository stays frozen
	pass(time.Hour)
	mustCheck(t, c) // 24 hours passed: still valid
	pass(2 * time.Hour)
	ts, err := c.Check(context.Background())
	refused(t, ts, err, ErrExpired, "timestamp.json", "check the time source")
	restarted := e.client("T1", func(o *Opts) { o.Clock = clk; o.Dir = c.o.Dir })
	ts, err = restarted.Check(context.Background())
	refused(t, ts, err, ErrExpired, "timestamp.json")
}

// deadlineTransport records the deadline of each request's context by
// URL path.
type deadlineTransport struct {
	rt http.RoundTripper
	mu sync.Mutex
	d  map[string]time.Time
}

func (d *deadlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if dl, ok := req.Context().Deadline(); ok {
		d.mu.Lock()
		d.d[req.URL.Path] = dl
		d.mu.Unlock()
	}
	return d.rt.RoundTrip(req)
}

// TestFetchTimeoutWhole: FetchTimeout bounds a Fetch as a whole, the
// check it makes first (after a failed one) included: the download gets
// what the check left of it, not a FetchTimeout of its own.
func TestFetchTimeoutWhole(t *testing.T) {
	e := newEnv(t, repo.Opts{})
	e.add("firmware/posd-2.img", []byte("posd firmware"), KindFirmware, 2)
	e.publish()
	dt := &deadlineTransport{rt: e.srv.Client().Transport, d: map[string]time.Time{}}
	c := e.client("T1", func(o *Opts) { o.HTTP = &http.Client{Transport: dt} })
	fw := find(t, mustCheck(t, c), "firmware/posd-2.img")
	c.up = nil // as after a failed check
	if _, err := c.Fetch(context.Background(), fw); err != nil {
		t.Fatal(err)
	}
	dt.mu.Lock()
	defer dt.mu.Unlock()
	check, download := dt.d["/metadata/timestamp.json"], dt.d[e.targetPath(fw.Name)]
	if check.IsZero() || download.IsZero() || download.After(check) {
		t.Fatalf("deadlines: check %v, download %v (later by %v)", check, download, download.Sub(check))
	}
}
