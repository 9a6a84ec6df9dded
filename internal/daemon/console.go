package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"posd/conn/clock"
	"posd/crypto/keystore"
	"posd/terminal/console"
	"posd/terminal/durable"
	"posd/terminal/engauth"
	"posd/terminal/keyload"
	"posd/terminal/money"
	"posd/terminal/slots"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/terminal/wiresec"
)

// ExitRestart is the exit status of posd after a restart the console
// asked for (systemd's Restart=on-failure starts it again).
const ExitRestart = 75

// ErrRestart is returned by Wait-ers of RestartRequested: the daemon asks
// to be started again.
var ErrRestart = errors.New("daemon: restart requested")

// openConsole serves the service console on the board's console line.
func (d *Daemon) openConsole(ctx context.Context) error {
	line := d.Board.Devices.Console
	if d.Config.Console.Disabled || line == nil {
		return nil
	}
	var v *engauth.Verifier
	if d.Settings.ConsoleKey != nil {
		v = &engauth.Verifier{Key: d.Settings.ConsoleKey, Terminal: d.Config.Terminal.ID, Groups: d.Config.Console.Groups}
	}
	c, err := console.New(console.Opts{
		Terminal: consoleTerminal{d}, Verifier: v, TerminalID: d.Config.Terminal.ID, DB: d.DB.Bolt(),
		IdleTimeout: d.Settings.ConsoleIdle, Logger: d.Log.With("part", "console"),
	})
	if err != nil {
		return err
	}
	d.Console, d.consoleWhere = c, line.Where
	d.consoleDone = make(chan struct{})
	ctx, d.consoleStop = context.WithCancel(ctx)
	go func() {
		defer close(d.consoleDone)
		serveConsole(ctx, func(ctx context.Context) error { return c.Serve(ctx, line.RW) }, clock.Real, d.Log)
	}()
	d.Log.Info("service console", "where", line.Where, "baud", line.Baud, "login", v != nil)
	return nil
}

// Console port failures are retried after consoleRetryMin, doubling to
// consoleRetryMax: a USB-serial adapter pulled out and put back, a
// pseudo-terminal's read error, must not end the console until posd
// restarts.
const (
	consoleRetryMin = time.Second
	consoleRetryMax = time.Minute
)

// serveConsole runs serve until ctx ends, again after each failure of
// the port (console.ErrIO), waiting longer each time it fails at once.
// The first failure of a run is logged, not every try.
func serveConsole(ctx context.Context, serve func(context.Context) error, clk clock.Clock, log *slog.Logger) {
	wait := consoleRetryMin
	failing := false
	for {
		start := clk.Now()
		err := serve(ctx)
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, console.ErrIO) {
			log.Error("service console stopped", "err", err)
			return
		}
		if clk.Now().Sub(start) > consoleRetryMax {
			wait, failing = consoleRetryMin, false // it served a while: a new failure
		}
		if !failing {
			log.Warn("service console port failed, serving it again", "err", err, "retry_in", wait)
			failing = true
		}
		if errors.Is(err, console.ErrDisconnected) {
			// The line hung up (the engineer left): the next one
			// gets a prompt as soon as a laptop plugs in.
			wait = consoleRetryMin
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.After(wait):
		}
		if !errors.Is(err, console.ErrDisconnected) {
			wait = min(2*wait, consoleRetryMax)
		}
	}
}

// RestartRequested is closed when the console asked for a restart.
func (d *Daemon) RestartRequested() <-chan struct{} { return d.restart }

// consoleTerminal is what the console drives of the daemon. Its texts
// carry no card data: masked PANs at most, KCVs for keys.
type consoleTerminal struct{ d *Daemon }

func pretty(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return string(b), err
}

func (c consoleTerminal) Status(context.Context) (string, error) {
	return pretty(consoleStatus(c.d.Status()))
}

// consoleStatus is st with its digests shortened (slots.ShortDigest); the local
// API (posctl status) keeps them whole.
func consoleStatus(st Status) Status {
	st.Params = consoleParams(st.Params)
	if st.SettleByHand != nil {
		// The currency as the console writes amounts (CNY), not the
		// record's numeric code, which the local API keeps.
		h := *st.SettleByHand
		h.First = slices.Clone(h.First)
		for i := range h.First {
			if c, err := money.Lookup(h.First[i].Currency); err == nil {
				h.First[i].Currency = c.Alpha
			}
		}
		st.SettleByHand = &h
	}
	if st.Firmware != nil {
		fw := *st.Firmware
		if fw.Slots != nil {
			ss := *fw.Slots
			ss.Slots = slices.Clone(ss.Slots)
			for i := range ss.Slots {
				ss.Slots[i].SHA256 = slots.ShortDigest(ss.Slots[i].SHA256)
			}
			fw.Slots = &ss
		}
		st.Firmware = &fw
	}
	return st
}

// consoleParams is p with its bundle's digest shortened (slots.ShortDigest).
func consoleParams(p *ParamsSet) *ParamsSet {
	if p == nil {
		return nil
	}
	q := *p
	q.SHA256 = slots.ShortDigest(q.SHA256)
	return &q
}

func (c consoleTerminal) Devices(context.Context) (string, error) { return pretty(c.d.Board.Status()) }

func (c consoleTerminal) SelfTest(ctx context.Context) (string, error) {
	list, err := c.d.SelfTest(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range list {
		state := "ok"
		if !s.OK {
			state = "FAIL " + s.Error
		}
		fmt.Fprintf(&b, "%-12s %-10s %s %s\n", s.Name, s.Driver, state, s.Detail)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func (c consoleTerminal) LogTail(n int) []string { return c.d.tail.Tail(n) }

func (c consoleTerminal) Txns(_ context.Context, n int) (string, error) {
	list, err := c.d.Engine.List(n)
	if err != nil {
		return "", err
	}
	if len(list) == 0 {
		return "no transactions", nil
	}
	var b strings.Builder
	for _, t := range list {
		// The amount as the slip and the customer display show it.
		amount := amountText(t.Amount, t.Currency)
		// Why one did not go through: the host's code, and for a
		// failure its class (a fixed word, never the error's text).
		why := t.ResponseCode
		if t.Failure != "" {
			why = strings.TrimSpace(why + " " + t.Failure)
		}
		fmt.Fprintf(&b, "%-6s %-10s %-16s %14s %-19s %s %s\n", t.ID, t.Kind, t.State, amount, t.MaskedPAN,
			t.Created.Format(time.RFC3339), why)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func (c consoleTerminal) HostTest(ctx context.Context) (string, error) {
	r, err := c.d.Echo(ctx)
	if err != nil {
		return "", err
	}
	return pretty(r)
}

func (c consoleTerminal) Sync(ctx context.Context) (string, error) {
	r, err := c.d.Sync(ctx)
	if err != nil {
		return "", err
	}
	return pretty(r)
}

// Params shows the parameters in use: the host address and risk rules of
// the acquirer's bundle when one is in use (params names it), else the
// configuration's.
func (c consoleTerminal) Params(context.Context) (string, error) {
	cfg, set := c.d.Config, c.d.Settings
	v := map[string]any{
		"terminal_id": cfg.Terminal.ID, "merchant_id": cfg.Terminal.MerchantID, "board": set.Profile.Name,
		"host": c.d.Host.Addr(), "dialect": set.Dialect.Name, "connect_timeout": set.ConnectTimeout.String(),
		"response_timeout": set.ResponseTimeout.String(), "currency": set.Currency.Alpha, "max_amount": cfg.Terminal.MaxAmount,
		"dukpt_mode": string(set.Mode), "risk": c.d.Risk.Rules(), "console_groups": cfg.Console.Groups,
		"emv_params": orDefault(cfg.EMVParams, "built-in test parameters"), "retention": set.Retention.String(),
	}
	if p := c.d.Params(); p.Version > 0 {
		v["params"] = consoleParams(&p)
	}
	return pretty(v)
}

// noOTA is what the OTA views say on a terminal without an update
// repository: a state, not a failure.
const noOTA = "no update repository configured (ota.url)"

func (c consoleTerminal) OTA(_ context.Context, what string) (string, error) {
	out, err := c.ota(what)
	if errors.Is(err, ErrNoOTA) {
		if what == "check" {
			return noOTA + ": nothing to check", nil
		}
		return noOTA, nil
	}
	return out, err
}

func (c consoleTerminal) ota(what string) (string, error) {
	switch what {
	case "status":
		st, err := c.d.OTAStatus()
		if err != nil {
			return "", err
		}
		st.Params = consoleParams(st.Params)
		return pretty(st)
	case "history":
		h, err := c.d.OTAHistory(20)
		if err != nil {
			return "", err
		}
		return pretty(h)
	case "check":
		if err := c.d.CheckUpdates(); err != nil {
			return "", err
		}
		return "check requested; see ota status in a few seconds", nil
	}
	return "", fmt.Errorf("unknown OTA view %q", what)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Restart asks for a restart once the engine is closed to new
// transactions (closeForRestart): a sale started in restartGrace would
// end by the shutdown.
func (c consoleTerminal) Restart(context.Context) error {
	if err := c.d.closeForRestart(nil); err != nil {
		return err
	}
	c.d.requestRestart()
	return nil
}

// closeForRestart closes the sale engine to new transactions, and runs fn
// (nil: nothing) between the check that none is in progress and the
// closing, in one hold of the engine (txn's CloseWhenIdle): a sale asked
// for from then on is refused (the local API answers 503, posd is
// restarting) instead of being approved by the host and then cut short,
// or erased by a factory reset, as posd restarts. While a transaction is
// in progress it returns saleInProgress's error and runs nothing.
func (d *Daemon) closeForRestart(fn func() error) error {
	err := d.Engine.CloseWhenIdle(fn)
	if errors.Is(err, txn.ErrBusy) {
		if named := d.saleInProgress(); named != nil {
			return named
		}
	}
	return err
}

// SaleInProgress lets the console refuse a restart or a factory reset
// before it asks for a confirmation; both check again when called.
func (c consoleTerminal) SaleInProgress(context.Context) error { return c.d.saleInProgress() }

// saleInProgress refuses a restart or a factory reset while a transaction
// runs: the customer may be at the PIN pad, and stopping posd would end
// the sale (or, during its exchange with the host, leave it to a reversal).
func (d *Daemon) saleInProgress() error {
	if id := d.Engine.Active(); id != "" {
		return fmt.Errorf("transaction %s is in progress: try again once it has ended (posctl txn show %s)", id, id)
	}
	return nil
}

// restartGrace lets the console print its answer before the restart
// closes its line.
const restartGrace = time.Second

// requestRestart asks cmd/posd for a restart, after restartGrace.
func (d *Daemon) requestRestart() {
	time.AfterFunc(restartGrace, func() { d.restartOnce.Do(func() { close(d.restart) }) })
}

func (c consoleTerminal) loader() *keyload.Loader {
	return &keyload.Loader{Keys: c.d.ks, DUKPT: c.d.Keys}
}

// kbpkAlg is the algorithm of the KBPK a custodian loads: AES under AES
// DUKPT, TDES under TDES DUKPT.
func (c consoleTerminal) kbpkAlg() byte {
	if c.d.Settings.Mode == wiresec.ModeTDES {
		return 'T'
	}
	return 'A'
}

func (c consoleTerminal) KeyCheckValues(context.Context) (string, error) {
	list, err := c.loader().KCVs()
	if err != nil && len(list) == 0 {
		return "", err
	}
	var b strings.Builder
	for _, k := range list {
		if k.State != "" {
			// The DUKPT slot without a usable key: what to do.
			fmt.Fprintf(&b, "%-16s %-4s %s\n", k.Name, k.Algorithm, k.State)
			continue
		}
		if k.KCV == "" && k.KSN != "" {
			// The DUKPT slot keeps no initial key to check: its KSN
			// names the key in use.
			fmt.Fprintf(&b, "%-16s %-4s KSN %s\n", k.Name, k.Algorithm, k.KSN)
			continue
		}
		fmt.Fprintf(&b, "%-16s %-4s KCV %s\n", k.Name, k.Algorithm, k.KCV)
	}
	if err != nil {
		// The keys listed exist; the DUKPT slot could not be read.
		fmt.Fprintf(&b, "%-16s unreadable: %v\n", "dukpt", err)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

func (c consoleTerminal) ComponentKCV(component []byte) (string, error) {
	return keyload.ComponentKCV(c.kbpkAlg(), component)
}

func (c consoleTerminal) KBPKCheckValue(context.Context) (string, error) {
	e, err := c.d.ks.Info(keyload.KBPKName)
	if errors.Is(err, keystore.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return e.KCV, nil
}

func (c consoleTerminal) LoadKBPK(_ context.Context, a, b []byte) (string, error) {
	return c.loader().LoadKBPK(c.kbpkAlg(), a, b)
}

func (c consoleTerminal) LoadKey(_ context.Context, block string) (string, error) {
	l, err := c.loader().LoadBlock(block)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("loaded: usage %s, KCV %s, initial KSN %s", l.Usage, l.KCV, l.KSN), nil
}

// FactoryReset erases keys, records and parameters at the next start:
// refused while a transaction runs, and while transactions are not settled (the open batch holds
// counted ones, or reversals/advices wait for the host) unless abandon.
func (c consoleTerminal) FactoryReset(_ context.Context, abandon bool) (string, error) {
	d := c.d
	// The batch is read, and the marker written, with the engine closed
	// to new transactions from the same moment on: none is recorded (and
	// erased) between the checks and the restart.
	err := d.closeForRestart(func() error {
		if !abandon {
			if err := d.settled(); err != nil {
				return err
			}
		}
		// Durable: the console audits the reset as done once this
		// returns. The time, to the nanosecond, also tells this reset's
		// saved audit trail from an earlier one's (see eraseIfReset).
		if err := durable.WriteFile(filepath.Join(d.Config.DataDir, resetMarker), []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
			return fmt.Errorf("factory reset marker: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	d.requestRestart()
	return "factory reset: keys, transactions and parameters are erased as posd restarts", nil
}

// amountText is an amount in minor units of cur as the console shows it.
func amountText(amount int64, cur string) string {
	if c, err := money.Lookup(cur); err == nil {
		return c.Alpha + " " + c.Format(amount)
	}
	return fmt.Sprint(amount, " ", cur)
}

// Aside lists the transactions to settle by hand, one a line: id, why,
// amount, its record's last change and the outcomes it may be settled
// with.
func (c consoleTerminal) Aside(context.Context) (string, error) {
	list := c.d.Engine.Aside()
	if len(list) == 0 {
		return "nothing to settle by hand", nil
	}
	var b strings.Builder
	for _, a := range list {
		fmt.Fprintf(&b, "%-6s %-17s %14s %s outcome: %s\n", a.ID, a.Why, amountText(a.Amount, a.Currency),
			a.Updated.UTC().Format(time.RFC3339), strings.Join(txn.HandOutcomes(a.Why), "|"))
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// SetAside describes transaction id on the list to settle by hand, or
// one settled by hand already (the same outcome and reference again
// change nothing); txn.ErrNotAside for any other.
func (c consoleTerminal) SetAside(_ context.Context, id string) (string, error) {
	for _, a := range c.d.Engine.Aside() {
		if a.ID == id {
			return fmt.Sprintf("transaction %s: %s, %s, last change %s; outcome: %s", a.ID, a.Why, amountText(a.Amount, a.Currency),
				a.Updated.UTC().Format(time.RFC3339), strings.Join(txn.HandOutcomes(a.Why), " or ")), nil
		}
	}
	t, err := c.d.Engine.Get(id)
	switch {
	case err != nil && store.IsNotFound(err):
		return "", fmt.Errorf("%w: transaction %s not found", txn.ErrNotAside, id)
	case err != nil:
		return "", err
	case t.Hand != nil:
		return fmt.Sprintf("transaction %s (%s, %s) was settled by hand at %s by %s: %s, reference %s",
			t.ID, t.Hand.Why, amountText(t.Amount, t.Currency), t.Hand.At.UTC().Format(time.RFC3339), t.Hand.By, t.Hand.Outcome, t.Hand.Ref), nil
	}
	return "", fmt.Errorf("%w: transaction %s (%s) is not set aside: the terminal settles it, or has nothing to settle", txn.ErrNotAside, id, t.State)
}

// SettleByHand records transaction id as settled by hand (see
// txn.Engine.SettleByHand) and says what the record now holds.
func (c consoleTerminal) SettleByHand(_ context.Context, id, outcome, ref, by string) (string, error) {
	t, err := c.d.Engine.SettleByHand(id, txn.HandNote{By: by, Outcome: outcome, Ref: ref})
	if err != nil {
		return "", err
	}
	h := t.Hand
	return fmt.Sprintf("transaction %s settled by hand: %s, reference %s (%s, %s; recorded at %s by %s)",
		t.ID, h.Outcome, h.Ref, h.Why, amountText(t.Amount, t.Currency), h.At.UTC().Format(time.RFC3339), h.By), nil
}

// settled refuses a factory reset while transactions are not settled:
// the open batch holds counted ones, or reversals/advices wait for the
// host.
func (d *Daemon) settled() error {
	n, what, err := d.unsettled()
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%s: close the batch first, or abandon them", what)
	}
	return nil
}

// Unsettled says what a factory reset would abandon (see unsettled).
func (c consoleTerminal) Unsettled(context.Context) (int, string, error) { return c.d.unsettled() }

// unsettled counts the transactions a factory reset would abandon (the
// open batch's counted ones, the reversals and advices waiting for the
// host) and words them with their amounts; 0 and "" when none. It
// changes nothing.
func (d *Daemon) unsettled() (int, string, error) {
	_, totals, err := d.Engine.OpenBatch()
	if err != nil {
		return 0, "", err
	}
	counted := 0
	var batchAmounts []string
	for _, t := range totals {
		counted += t.DebitCount + t.CreditCount
		if t.DebitCount > 0 {
			a := amountText(t.DebitAmount, t.Currency)
			if t.CreditCount > 0 {
				a += " debits"
			}
			batchAmounts = append(batchAmounts, a)
		}
		if t.CreditCount > 0 {
			batchAmounts = append(batchAmounts, amountText(t.CreditAmount, t.Currency)+" credits")
		}
	}
	jobs, err := d.DB.Jobs()
	if err != nil {
		return 0, "", err
	}
	// The amounts of the transactions the jobs are for, each once, by
	// currency in the order first met.
	var curs []string
	sums := make(map[string]int64)
	seen := make(map[string]bool)
	for _, j := range jobs {
		if seen[j.TxnID] {
			continue
		}
		seen[j.TxnID] = true
		t, err := d.DB.Get(j.TxnID) // not the engine: a reset calls this with its lock held
		if err != nil || t.Amount == 0 {
			continue
		}
		if _, ok := sums[t.Currency]; !ok {
			curs = append(curs, t.Currency)
		}
		sums[t.Currency] += t.Amount
	}
	var why []string
	if counted > 0 {
		why = append(why, countOf(counted, "transaction", "transactions")+" of the open batch not settled"+inParens(batchAmounts))
	}
	if len(jobs) > 0 {
		var amounts []string
		for _, c := range curs {
			amounts = append(amounts, amountText(sums[c], c))
		}
		why = append(why, countOf(len(jobs), "reversal or advice", "reversals or advices")+" waiting for the host"+inParens(amounts))
	}
	return counted + len(jobs), strings.Join(why, " and "), nil
}

// inParens is " (a, b)", or "" for none.
func inParens(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return " (" + strings.Join(list, ", ") + ")"
}

// countOf is n with the noun's singular or plural.
func countOf(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
