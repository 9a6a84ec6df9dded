package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"posd/cmd/acquirer-sim/acquirer"
	"posd/internal/config"
	"posd/terminal/facepay"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/store/storetest"
	"posd/terminal/txn"
	"posd/ui/receipt"
)

func openTest(t *testing.T, dir string) *Daemon {
	t.Helper()
	cfg, err := config.Parse([]byte(`{"data_dir":"` + dir + `","host":{"addr":"127.0.0.1:1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenStatusClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := openTest(t, dir)
	st := d.Status()
	if st.Board != "sim" || st.TerminalID != "POS00001" || st.Dialect != "ascii87" || st.DUKPTMode != "aes" ||
		st.KSN == "" || st.KeyError != "" || st.ActiveSale != "" || st.Version != "test" || st.PendingReversals != 0 {
		t.Fatalf("status: %+v", st)
	}
	if d.Sim == nil || !d.Healthy() {
		t.Fatal("sim board or database missing")
	}
	if _, err := d.Echo(context.Background()); err == nil {
		t.Fatal("echo to a closed port succeeded")
	}
	x := store.Txn{Kind: "purchase", Amount: 1, Currency: "156", State: store.StateCreated}
	d.DB.Create(&x)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v %v", fi, err)
	}
	// Temporary files of writes a kill cut short (the reset's copy of the
	// console's audit trail, a marker) go at the next start; the files
	// they were for stay.
	leftovers := []string{".console-audit.reset.4193375", ".posd.db.instance.77012"}
	for _, l := range leftovers {
		if err := os.WriteFile(filepath.Join(dir, l), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Reopen: the record left created is recovered as failed.
	d = openTest(t, dir)
	for _, l := range leftovers {
		if _, err := os.Stat(filepath.Join(dir, l)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the data dir: %v", l, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "posd.db.instance")); err != nil {
		t.Errorf("the marker: %v", err)
	}
	defer d.Close(context.Background())
	if got, _ := d.DB.Get(x.ID); got.State != store.StateFailed || got.Failure != "interrupted" {
		t.Fatalf("recovered record: %+v", got)
	}
}

func TestOpenFailureStopsWhatStarted(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "posd.db"), nil, 0o600) // empty: damaged
	cfg, _ := config.Parse([]byte(`{"data_dir":"` + dir + `"}`))
	if _, err := Open(context.Background(), cfg, "test", nil); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("open on a damaged database: %v", err)
	}
}

func TestCloseWithinGivesUp(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := closeWithin(ctx, func() error { <-block; return nil }, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("closeWithin: %v", err)
	}
	want := errors.New("closed with an error")
	if err := closeWithin(context.Background(), func() error { return want }, slog.New(slog.DiscardHandler)); err != want {
		t.Fatalf("closeWithin error: %v", err)
	}
}

// TestShutdownReportsEngineErrorOnce: posd stops with StopSales (through
// the API server's shutdown) and then Close; an engine that did not stop
// in time is reported once, not by both.
func TestShutdownReportsEngineErrorOnce(t *testing.T) {
	d := &Daemon{Log: slog.New(slog.DiscardHandler), cancel: func() {}}
	d.stopOnce.Do(func() { d.stopErr = fmt.Errorf("sale engine: %w", context.DeadlineExceeded) })
	err := errors.Join(d.StopSales(context.Background()), d.Close(context.Background()))
	if n := strings.Count(fmt.Sprint(err), "sale engine"); n != 1 {
		t.Errorf("engine error reported %d times: %v", n, err)
	}
	// Close alone (a failed start) still reports it.
	d2 := &Daemon{Log: slog.New(slog.DiscardHandler), cancel: func() {}}
	d2.stopOnce.Do(func() { d2.stopErr = errors.New("sale engine: stuck") })
	if err := d2.Close(context.Background()); err == nil || !strings.Contains(err.Error(), "stuck") {
		t.Errorf("Close alone: %v", err)
	}
}

// TestClockBeforeTheBuild: a clock before the firmware's build time (a
// board without a battery-backed clock after a power cut) is reported in
// the status and logged; nothing is approved offline while it lasts.
func TestClockBeforeTheBuild(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"data_dir":"` + filepath.Join(t.TempDir(), "data") + `","host":{"addr":"127.0.0.1:1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	built := time.Now().Add(48 * time.Hour)
	d, err := Open(context.Background(), cfg, "test", log, WithBuildTime(built))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	c := d.Status().Clock
	if c.Now == "" || c.NotBefore != built.UTC().Format(time.RFC3339) || !strings.Contains(c.Problem, "before the firmware's build time") {
		t.Errorf("clock status: %+v", c)
	}
	if !strings.Contains(logs.String(), "the clock is wrong") {
		t.Errorf("not logged at start:\n%s", logs.String())
	}
	if dec := d.Risk.CheckOffline(context.Background(), risk.Txn{Type: risk.TypeSale, Amount: 100, Currency: "CNY", Entry: risk.EntryInsert}); dec.Allow || dec.Rule != risk.RuleOfflineClock {
		t.Errorf("offline approval with the clock before the build: %+v", dec)
	}

	// A clock after the build time: nothing to say.
	d2 := openTest(t, filepath.Join(t.TempDir(), "data"))
	defer d2.Close(context.Background())
	if c := d2.Status().Clock; c.Now == "" || c.NotBefore != "" || c.Problem != "" {
		t.Errorf("clock status without a build time: %+v", c)
	}
}

func TestBuildTime(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.time", Value: "2026-11-29T11:00:00Z"}}
	for _, c := range []struct {
		settings []debug.BuildSetting
		linked   string
		want     string
	}{
		{vcs, "", "2026-11-29T11:00:00Z"},
		{vcs, "2020-01-01T00:00:00Z", "2026-11-29T11:00:00Z"},
		{nil, "2026-11-28T09:30:00+08:00", "2026-11-28T01:30:00Z"},
		{nil, "", ""},
		{nil, "yesterday", ""},
	} {
		got := buildTime(c.settings, c.linked)
		if s := ""; !got.IsZero() {
			s = got.Format(time.RFC3339)
			if s != c.want {
				t.Errorf("buildTime(%v, %q) = %s, want %s", c.settings, c.linked, s, c.want)
			}
		} else if c.want != "" {
			t.Errorf("buildTime(%v, %q) = zero, want %s", c.settings, c.linked, c.want)
		}
	}
}

// TestClockAgainstTheAcquirer: a clock set forward (a day ahead of the
// acquirer's) is seen from the acquirer's answers: the status says so,
// it is logged, and nothing is approved offline while it lasts.
func TestClockAgainstTheAcquirer(t *testing.T) {
	addr := startAcquirerWith(t, &acquirer.Opts{Now: func() time.Time { return time.Now().Add(-24 * time.Hour) }})
	cfg, err := config.Parse([]byte(`{"data_dir":"` + filepath.Join(t.TempDir(), "data") + `","host":{"addr":"` + addr + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	d, err := Open(context.Background(), cfg, "test", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	if c := d.Status().Clock; c.Problem != "" || c.AcquirerOffset != "" {
		t.Fatalf("before any answer: %+v", c)
	}
	if _, err := d.Echo(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := d.Status().Clock
	if !strings.Contains(c.Problem, "ahead of the acquirer's") || !strings.HasPrefix(c.AcquirerOffset, "+23h59") && !strings.HasPrefix(c.AcquirerOffset, "+24h0") ||
		c.AcquirerSeen == "" {
		t.Errorf("clock status a day ahead of the acquirer: %+v", c)
	}
	if !strings.Contains(logs.String(), "the clock differs from the acquirer's") {
		t.Errorf("not logged:\n%s", logs.String())
	}
	if dec := d.Risk.CheckOffline(context.Background(), risk.Txn{Type: risk.TypeSale, Amount: 100, Currency: "CNY", Entry: risk.EntryInsert}); dec.Allow || dec.Rule != risk.RuleOfflineClock {
		t.Errorf("offline approval a day ahead of the acquirer: %+v", dec)
	}
}

// The transactions the terminal can do nothing more about (a face payment
// its platform no longer reverses, an advice the host refused for good)
// are listed in the status to settle by hand, after a restart too; the
// face one is no longer counted as a pending reversal, a reversal the
// terminal still works on is.
func TestStatusListsWhatToSettleByHand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := openTest(t, dir)
	if st := d.Status(); st.SettleByHand != nil || st.PendingReversals != 0 {
		t.Fatalf("a fresh terminal: %+v, %d reversals", st.SettleByHand, st.PendingReversals)
	}
	d.Close(context.Background())

	recs := []store.Txn{
		{Kind: "purchase", Amount: 3000, Currency: "156", State: store.StateReversalPending, Face: &store.Face{OrderID: "F1", Status: facepay.CodeReverseExpired}},
		{Kind: "purchase", Amount: 100, Currency: "156", State: store.StateReversalPending, STAN: 7},
		{Kind: "purchase", Amount: 200, Currency: "156", State: store.StateOfflineApproved, STAN: 8, AdviceCode: "Q1"},
	}
	storetest.SeedDir(t, dir, recs)

	d = openTest(t, dir)
	defer d.Close(context.Background())
	st := d.Status()
	if st.PendingReversals != 1 {
		t.Fatalf("pending reversals %d, want 1 (the card sale's)", st.PendingReversals)
	}
	h := st.SettleByHand
	if h == nil || h.Count != 2 || len(h.First) != 2 ||
		h.First[0].ID != recs[0].ID || h.First[0].Why != txn.AsideFaceNotReversed || h.First[0].Amount != 3000 ||
		h.First[1].ID != recs[2].ID || h.First[1].Why != txn.AsideAdviceRefused {
		t.Fatalf("settle by hand: %+v", h)
	}
	b, err := json.Marshal(st)
	if err != nil || !strings.Contains(string(b), `"settle_by_hand":{"count":2`) {
		t.Fatalf("status JSON: %s, %v", b, err)
	}
}

// A transaction settled by hand on the console leaves the status's list,
// after a restart too; a face payment settled so is no pending reversal
// either, and the record shows who settled it and how.
func TestSettledByHandLeavesTheStatus(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := openTest(t, dir)
	d.Close(context.Background())
	recs := []store.Txn{
		{Kind: "purchase", Amount: 3000, Currency: "156", State: store.StateReversalPending, Face: &store.Face{OrderID: "F1", Status: facepay.CodeReverseExpired}},
		{Kind: "purchase", Amount: 100, Currency: "156", State: store.StateReversalPending, STAN: 7},
		{Kind: "purchase", Amount: 200, Currency: "156", State: store.StateOfflineApproved, STAN: 8, AdviceCode: "Q1"},
	}
	storetest.SeedDir(t, dir, recs)
	face, offline := recs[0].ID, recs[2].ID

	d = openTest(t, dir)
	c := consoleTerminal{d}
	ctx := context.Background()
	list, err := c.Aside(ctx)
	if err != nil || !strings.Contains(list, face+" ") || !strings.Contains(list, "face_not_reversed") || !strings.Contains(list, "CNY 30.00") ||
		!strings.Contains(list, "refunded|stands") {
		t.Fatalf("aside list: %q, %v", list, err)
	}
	if desc, err := c.SetAside(ctx, offline); err != nil || !strings.Contains(desc, "advice_refused") || !strings.Contains(desc, "CNY 2.00") {
		t.Fatalf("set aside %s: %q, %v", offline, desc, err)
	}
	if _, err := c.SetAside(ctx, recs[1].ID); !errors.Is(err, txn.ErrNotAside) {
		t.Fatalf("a reversal still worked on: %v", err)
	}
	// The settlement report lists what is still to settle by hand.
	report := func() string {
		t.Helper()
		docs, err := layout(receipt.Header{TerminalID: "POS00001", Location: time.UTC},
			store.Txn{ID: "99", Kind: "settlement", State: store.StateApproved, Batch: 1}, nil, false, 42, d.Engine.Get, d.Engine.Aside, d.Engine.PlatformTotals)
		if err != nil || len(docs) != 1 {
			t.Fatalf("settlement report: %v", err)
		}
		var b strings.Builder
		for _, l := range docs[0].Lines {
			b.WriteString(l.Text + "\n")
		}
		return b.String()
	}
	if r := report(); !strings.Contains(r, "TO SETTLE BY HAND: 2") || !strings.Contains(r, "#"+face+" ") {
		t.Fatalf("settlement report before:\n%s", r)
	}
	out, err := c.SettleByHand(ctx, face, txn.HandRefunded, "FP case 12", "adam (admin)")
	if err != nil || !strings.Contains(out, "refunded") || !strings.Contains(out, "FP case 12") {
		t.Fatalf("settle %s: %q, %v", face, out, err)
	}
	if _, err := c.SettleByHand(ctx, offline, txn.HandSettled, "ACQ 7781", "adam (admin)"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		st := d.Status()
		if st.SettleByHand != nil || st.PendingReversals != 1 {
			t.Fatalf("%s: settle by hand %+v, %d pending reversals (want the card sale's only)", when, st.SettleByHand, st.PendingReversals)
		}
		rec, err := d.Engine.Get(face)
		if err != nil || rec.Hand == nil || rec.Hand.By != "adam (admin)" || rec.Hand.Outcome != txn.HandRefunded || rec.Hand.Ref != "FP case 12" {
			t.Fatalf("%s: record %+v, %v", when, rec.Hand, err)
		}
		// The console says it was settled, and the same again is fine.
		if desc, err := c.SetAside(ctx, face); err != nil || !strings.Contains(desc, "settled by hand") {
			t.Fatalf("%s: set aside %s: %q, %v", when, face, desc, err)
		}
		if _, err := c.SettleByHand(ctx, face, txn.HandRefunded, "FP case 12", "adam (admin)"); err != nil {
			t.Fatalf("%s: again: %v", when, err)
		}
	}
	check("at once")
	if r := report(); strings.Contains(r, "SETTLE BY HAND") || strings.Contains(r, "#"+face+" ") {
		t.Fatalf("settlement report after:\n%s", r)
	}
	d.Close(ctx)
	d = openTest(t, dir)
	defer d.Close(ctx)
	c = consoleTerminal{d}
	check("after a restart")
	if list, err := c.Aside(ctx); err != nil || list != "nothing to settle by hand" {
		t.Fatalf("aside list after a restart: %q, %v", list, err)
	}
}

// The offset from the acquirer's clock, whose time comes in whole
// seconds: under a second either way is none (a host on the same machine
// showed "+1s").
func TestOffsetText(t *testing.T) {
	for skew, want := range map[time.Duration]string{
		0: "0s", 600 * time.Millisecond: "0s", -999 * time.Millisecond: "0s",
		1500 * time.Millisecond: "+2s", -3 * time.Second: "-3s", 24 * time.Hour: "+24h0m0s",
	} {
		if got := offsetText(skew); got != want {
			t.Errorf("offsetText(%v) = %q, want %q", skew, got, want)
		}
	}
}
