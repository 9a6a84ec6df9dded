// Package daemon wires posd: it opens the data directory, the database and
// the keys, the board (hardware or simulated), the host link and the sale
// engine, reports their Status, and stops them in order. cmd/posd parses
// flags and configuration, opens a Daemon, serves the local API over it
// and waits for signals; the service console and OTA use the same Daemon.
package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"posd/board"
	"posd/board/entry"
	"posd/board/kek"
	"posd/board/sim"
	"posd/board/sim/deck"
	"posd/conn/clock"
	"posd/crypto/keystore"
	"posd/crypto/sealbox"
	"posd/drivers/camera"
	"posd/internal/config"
	"posd/internal/sdnotify"
	"posd/terminal/console"
	"posd/terminal/dukptkeys"
	"posd/terminal/durable"
	"posd/terminal/emv"
	"posd/terminal/host"
	"posd/terminal/pin"
	"posd/terminal/risk"
	"posd/terminal/shred"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui"
)

// Daemon is a running posd. Its fields are the parts the local API and
// the console drive; they are set by Open and never change.
type Daemon struct {
	Config   config.Config
	Settings config.Settings
	Version  string
	Log      *slog.Logger
	DB       *store.DB
	Keys     *dukptkeys.Source
	Board    *board.Board
	Sim      *sim.Board // nil unless the board is simulated
	Host     *host.Client
	Engine   *txn.Engine
	Risk     *risk.Engine
	// Modes are the card entry modes the board reads (tap, insert, swipe).
	Modes []risk.EntryMode
	// Console is the service console (nil when the board has no console
	// line or it is disabled).
	Console *console.Console

	// qr decodes the camera's frames for payment codes (nil: no camera,
	// or the nocv build).
	qr          *camera.QRDetector
	codeReaders []string
	face        *faceParts

	consoleWhere string
	consoleDone  chan struct{}
	consoleStop  context.CancelFunc // ends the console's Serve (Close, before the board closes its line)
	restart      chan struct{}
	restartOnce  sync.Once
	tail         *logTail

	// pinLimit is the PIN pad's rate limit, shared by the card PIN and
	// the face-pay password entries (terminal/pin Limiter).
	pinLimit *pin.Limiter

	kek           *keystore.StaticKEK
	sealer        *shred.Ring // offline approvals' card data
	ks            *keystore.Store
	started       time.Time
	built         time.Time       // the firmware's build time (WithBuildTime)
	hostClock     *risk.HostClock // the acquirer's clock, from its answers
	clockOff      atomic.Bool     // the clock was last seen away from the acquirer's
	cancel        context.CancelFunc
	watchdogDone  chan struct{}
	purgeDone     chan struct{}
	settle        *autoSettle // the daily settlement (nil: none)
	heartbeatStop context.CancelFunc
	heartbeatDone chan struct{} // the idle link's echoes (nil: none)
	settleDone    chan struct{} // closed when its loop ended
	rklDone       chan struct{} // remote key loading retries
	// rklRand draws the jitter of remote key loading's retries (seeded
	// from crypto/rand when they start).
	rklRand *mrand.Rand
	fw      *firmware // A/B slots (nil: no updater, not under posd-supervisor)
	// healthTries and healthPause bound a trial's health check.
	healthTries int
	healthPause time.Duration
	ota         *otaPart // update repository (nil: none)
	// receipts prints slips and reports (nil: the board has no printer);
	// receiptsStop ends its printing.
	receipts     *receipts
	receiptsStop context.CancelFunc
	stopOnce     sync.Once
	stopErr      error
	stopTold     atomic.Bool // StopSales returned stopErr to a caller
	// behind: posd.db was an older copy at start (Status).
	behind *BehindStatus
	// devTest holds a transaction's device reads while a self test runs
	// (see selftest.go).
	devTest devGate
	// printer orders the self test's word on the printer and the
	// printing's (see printerfault.go).
	printer printerSeen
}

// Option changes how Open starts posd.
type Option func(*options)

type options struct {
	built     time.Time
	checkDB   func(path string) error
	updater   FirmwareUpdater
	slotNames [2]string
	reset     resetHooks // tests only: see the steps of a factory reset
}

// WithDBCheck checks posd.db with check before opening it (store.Opts.Check);
// posd passes store.CheckInChild, running its own -check-db. Without it
// the check runs in this process, where a file damaged in some ways can
// still crash or hang it.
func WithDBCheck(check func(path string) error) Option {
	return func(o *options) { o.checkDB = check }
}

// WithBuildTime names the firmware's build time (BuildTime): a clock
// before it is wrong, and nothing is approved offline while it is
// (risk.Opts.NotBefore). Zero, or without the option: no such bound.
func WithBuildTime(t time.Time) Option {
	return func(o *options) { o.built = t }
}

// Open starts every part. On an error the parts already started are
// stopped again, and nothing claims a clean stop.
func Open(parent context.Context, cfg config.Config, version string, log *slog.Logger, opts ...Option) (_ *Daemon, err error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(parent)
	set := cfg.Settings()
	tail := newLogTail(500)
	log = withTail(log, tail)
	d := &Daemon{Config: cfg, Settings: set, Version: version, Log: log, started: time.Now(), built: o.built, cancel: cancel,
		tail: tail, restart: make(chan struct{}), healthTries: defaultHealthTries, healthPause: defaultHealthPause,
		pinLimit: pin.DefaultLimiter(nil)}
	defer func() {
		if err != nil {
			sctx, scancel := context.WithTimeout(context.Background(), set.ShutdownTimeout)
			d.Close(sctx)
			scancel()
		}
	}()
	if err := prepareDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	reset, err := eraseIfReset(cfg.DataDir, o.checkDB, o.reset)
	if err != nil {
		return nil, err
	}
	if reset {
		log.Warn("factory reset: database, keys and parameters erased")
	}
	// The firmware slots first: a trial firmware must leave the database
	// usable by the firmware it would be rolled back to (a migration that
	// would not is refused, the trial fails to start, and the supervisor
	// or the boot loader rolls it back).
	if err := d.openSlots(ctx, o); err != nil {
		return nil, err
	}
	trial := d.fw != nil && d.fw.trial
	if d.DB, err = openDB(cfg.DataDir, o, trial, reset, log); err != nil {
		return nil, err
	}
	if d.DB.Behind() && !reset {
		d.behind = &BehindStatus{Message: behindMessage, Counters: d.DB.Moved()}
	}
	// posd holds the database's lock now: nothing else writes the data
	// dir, so the temporary files of writes a crash cut short can go (a
	// copy of the console's audit trail, a marker, a key mark...).
	if removed, err := durable.RemoveStale(cfg.DataDir); err != nil {
		log.Warn("data dir: temporary files of interrupted writes not removed", "err", err)
	} else if len(removed) > 0 {
		log.Info("data dir: removed temporary files of interrupted writes", "files", removed)
	}
	if err := d.openKeys(ctx); err != nil {
		return nil, err
	}
	if err := d.openBoard(ctx); err != nil {
		return nil, err
	}
	d.Host, err = host.New(&host.Opts{
		Addr: cfg.Host.Addr, Dialect: set.Dialect.Name, TPDU: set.TPDU,
		ConnectTimeout: set.ConnectTimeout, ResponseTimeout: set.ResponseTimeout,
		TerminalID: cfg.Terminal.ID, MerchantID: cfg.Terminal.MerchantID,
		Logger: log.With("part", "host"),
	})
	if err != nil {
		return nil, err
	}
	if err := d.openRisk(); err != nil {
		return nil, err
	}
	var pinPad txn.PINPad
	if keys := d.PINPad(); keys != nil {
		entry, err := pin.New(&pin.Opts{Limiter: d.pinLimit, Logger: log.With("part", "pin")})
		if err != nil {
			return nil, err
		}
		pinPad = pinReader{entry: entry, keys: keys}
	}
	kernel, err := d.openKernel()
	if err != nil {
		return nil, err
	}
	reader := d.cardReader()
	d.Modes = reader.modes()
	wallets, err := d.openWallet()
	if err != nil {
		return nil, err
	}
	codes := d.openCodes()
	facePay, err := d.openFace(d.PINPad())
	if err != nil {
		return nil, err
	}
	d.Engine, err = txn.New(txn.Opts{
		Store: d.DB, Host: d.Host, Keys: d.Keys, Reader: reader, Risk: d.Risk, PIN: pinPad,
		Kernel: kernel, Modes: d.Modes,
		Logger:        log.With("part", "txn"),
		CardTimeout:   set.CardTimeout,
		HostTimeout:   set.ConnectTimeout + set.ResponseTimeout + 2*time.Second,
		ReversalRetry: set.ReversalRetry,
		Sealer:        d.sealer, AdviceRate: set.AdviceRate,
		MaxAmount: set.MaxAmount, Currencies: set.Currencies,
		Codes: codes, Wallet: wallets, Merchant: set.Merchant,
		Face: facePay, Apps: d.apps(),
	})
	if err != nil {
		return nil, err
	}
	d.openReceipts(ctx)
	d.purgeDone = make(chan struct{})
	go func() {
		defer close(d.purgeDone)
		purgeLoop(ctx, d.DB, clock.Real, set.Retention, log.With("part", "retention"), d.Engine.RefreshAside)
	}()
	if set.AutoSettle >= 0 {
		d.settle = newAutoSettle(d.Engine, clock.Real, set.AutoSettle, log.With("part", "settlement"))
		d.settleDone = make(chan struct{})
		go func() {
			defer close(d.settleDone)
			d.settle.run(ctx)
		}()
	}
	if set.EchoIdle > 0 {
		hb := &heartbeat{
			echo: func(ctx context.Context) error { _, err := d.Echo(ctx); return err },
			link: d.Host.LinkState, busy: func() bool { return d.Engine.Active() != "" },
			clk: clock.Real, idle: set.EchoIdle, log: log.With("part", "heartbeat"),
		}
		hctx, stop := context.WithCancel(ctx)
		d.heartbeatStop, d.heartbeatDone = stop, make(chan struct{})
		go func() {
			defer close(d.heartbeatDone)
			hb.run(hctx)
		}()
	}
	if every := sdnotify.WatchdogInterval(); every > 0 && cfg.Watchdog.Enabled {
		d.watchdogDone = make(chan struct{})
		go func() {
			defer close(d.watchdogDone)
			sdnotify.Watchdog(ctx, every, d.Healthy)
		}()
	}
	if err := d.openConsole(ctx); err != nil {
		return nil, err
	}
	if err := d.openOTA(ctx, kernel); err != nil {
		return nil, err
	}
	return d, nil
}

// openDB opens posd.db and brings into it the console's audit trail a
// factory reset saved aside; reset: eraseIfReset erased the old one, and
// the reset is completed (finishReset). trial: a trial firmware runs
// (store.Opts.KeepReadable).
func openDB(dataDir string, o options, trial, reset bool, log *slog.Logger) (*store.DB, error) {
	db, err := store.Open(filepath.Join(dataDir, "posd.db"), &store.Opts{Timeout: 2 * time.Second, Check: o.checkDB, KeepReadable: trial,
		Logger: log.With("part", "store"), Mark: filepath.Join(dataDir, store.MarkFile)})
	if err != nil {
		return nil, err
	}
	logMoved(db, reset, log)
	if reset {
		err = finishReset(db.Bolt(), dataDir, log, o.reset)
	} else {
		err = importResetAudit(db.Bolt(), dataDir, log, o.reset)
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return db, nil
}

// cardReader is the board's card entry as the engine reads it: every
// reader the board has.
func (d *Daemon) cardReader() cardReader {
	dev := entry.Devices{}
	if m := d.Board.Devices.MSR; m != nil {
		dev.MSR = m
	}
	if n := d.Board.Devices.NFC; n != nil {
		dev.NFC = n
	}
	if c := d.Board.Devices.Contact; c != nil {
		dev.Contact = c
	}
	return cardReader{r: entry.New(dev, &entry.Opts{Logger: d.Log.With("part", "entry")}), gate: &d.devTest}
}

// openKernel loads the EMV parameters (the shipped test parameters unless
// emv_params names a file) and, on the sim board, adds the simulated
// certification authority's keys its cards are signed under.
func (d *Daemon) openKernel() (*emv.Kernel, error) {
	var (
		cfg emv.Config
		err error
	)
	if path := d.Config.EMVParams; path != "" {
		cfg, err = emv.LoadParamsFile(path)
	} else {
		cfg, err = emv.LoadParams(emv.SimParams())
	}
	if err != nil {
		return nil, fmt.Errorf("EMV parameters: %w", err)
	}
	if d.Sim != nil {
		if err := cfg.AddCAPKs(deck.CAPKs()...); err != nil {
			return nil, fmt.Errorf("EMV parameters: the simulated CA keys: %w", err)
		}
	}
	return emv.New(cfg, emv.Opts{Logger: d.Log.With("part", "emv")}), nil
}

// riskKeyName is the key store secret of the keyed hashes of PANs.
const riskKeyName = "risk.hashkey"

// openRisk starts the risk rules with the terminal's secret hash key,
// made once (32 random bytes, wrapped under the KEK like every key).
func (d *Daemon) openRisk() error {
	var key []byte
	err := d.ks.UseSecret(riskKeyName, func(b []byte) error { key = append([]byte(nil), b...); return nil })
	if errors.Is(err, keystore.ErrNotFound) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("risk hash key: %w", err)
		}
		err = d.ks.PutSecret(riskKeyName, key)
	}
	if err != nil {
		return fmt.Errorf("risk hash key: %w", err)
	}
	defer clear(key)
	d.hostClock = risk.NewHostClock(nil)
	d.Risk, err = risk.New(d.Settings.Risk, risk.Opts{DB: d.DB.Bolt(), HashKey: key, Logger: d.Log.With("part", "risk"),
		Offline: txn.OfflineLedger{Store: d.DB}, NotBefore: d.built, HostClock: d.hostClock})
	if err != nil {
		return err
	}
	if d.Host != nil {
		d.Host.OnHostTime(d.observeHostTime)
	}
	if err := d.Risk.CheckClock(context.Background()); errors.Is(err, risk.ErrClock) {
		d.Log.Warn("the clock is wrong: no offline approvals until it is set (NTP, the board's clock)", "err", err)
	}
	return d.openSealer()
}

// adviceKeyName is the key store secret that seals the card data of
// offline approvals until their advice is acknowledged.
const adviceKeyName = "advice.sealkey"

// adviceSlotsFile keeps the per-record keys of offline approvals' card
// data (terminal/shred), next to the database.
const adviceSlotsFile = "advice-keys.slots"

// openSealer loads (or makes, once) the key that wraps the keys of
// offline approvals' card data (32 random bytes, wrapped under the device
// KEK) and opens their slot file: each approval's card data is sealed
// under its own key, erased once the host has its advice.
func (d *Daemon) openSealer() error {
	var key []byte
	err := d.ks.UseSecret(adviceKeyName, func(b []byte) error { key = append([]byte(nil), b...); return nil })
	if errors.Is(err, keystore.ErrNotFound) {
		key = make([]byte, sealbox.KeySize)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("advice seal key: %w", err)
		}
		err = d.ks.PutSecret(adviceKeyName, key)
	}
	if err != nil {
		return fmt.Errorf("advice seal key: %w", err)
	}
	defer clear(key)
	wrap, err := sealbox.New(key, nil)
	if err != nil {
		return fmt.Errorf("advice seal key: %w", err)
	}
	d.sealer, err = shred.Open(filepath.Join(d.Config.DataDir, adviceSlotsFile), wrap, nil)
	if err != nil {
		return fmt.Errorf("advice key slots: %w", err)
	}
	return nil
}

// openBoard opens the hardware board of the profile, or the simulated one.
func (d *Daemon) openBoard(ctx context.Context) error {
	blog := d.Log.With("part", "board")
	if d.Settings.Profile.Name == "sim" {
		sb, err := sim.Open(ctx, sim.Opts{DataDir: d.Config.DataDir, Logger: blog, IRCamera: d.Config.Sim.IRCamera, NoCamera: d.Config.Sim.NoCamera})
		if err != nil {
			return err
		}
		d.Sim, d.Board = sb, sb.Board
		return nil
	}
	b, err := board.Open(ctx, d.Settings.Profile, blog)
	if err != nil {
		return err
	}
	d.Board = b
	return nil
}

// openKeys opens the key store under the board's KEK and the DUKPT slot
// with its KSN high-water mark (kept outside the database, so losing the
// database can never rewind the KSN), and provisions the sim board's TEST
// key into an empty slot.
func (d *Daemon) openKeys(ctx context.Context) error {
	cfg, set, log := d.Config, d.Settings, d.Log
	devKEK, err := d.deviceKEK()
	if err != nil {
		return err
	}
	d.kek = devKEK
	ks, err := keystore.Open(d.DB.Bolt(), devKEK, nil)
	if err != nil {
		return err
	}
	d.ks = ks
	d.Keys = dukptkeys.New(ks, set.Mode, cfg.DUKPT.Slot, func(err error) bool { return errors.Is(err, keystore.ErrNotFound) })
	mark := &dukptkeys.FileMark{Path: filepath.Join(cfg.DataDir, "dukpt-mark.json")}
	d.Keys.SetMark(mark)
	switch err := d.Keys.Check(); {
	case err == nil:
	case errors.Is(err, dukptkeys.ErrNotProvisioned) && cfg.RemoteKeys.URL != "":
		if err := d.loadRemoteKeys(ctx); err != nil {
			log.Error("remote key loading failed: sales fail until it succeeds; retrying in the background", "err", err)
			rnd, err := newJitter()
			if err != nil {
				return fmt.Errorf("remote key loading: %w", err)
			}
			d.rklRand = rnd
			d.rklDone = make(chan struct{})
			go func() {
				defer close(d.rklDone)
				d.retryRemoteKeys(ctx, clock.Real, d.rklRand)
			}()
		}
	case errors.Is(err, dukptkeys.ErrNotProvisioned) && set.Profile.Name == "sim" && cfg.Sim.TestKeys:
		bdk, iksn := cfg.SimTestKey(set.Mode)
		err := d.Keys.LoadFromBDK(bdk, iksn)
		clear(bdk)
		switch {
		case errors.Is(err, dukptkeys.ErrKSNReuse):
			log.Error("sim board: the TEST key was already used on this data directory and its state is gone; "+
				"sales are refused (no KSN is ever reused). Start the simulated terminal afresh with an empty data directory", "err", err)
		case err != nil:
			return fmt.Errorf("loading the sim test key: %w", err)
		default:
			log.Warn("sim board: DUKPT slot loaded from the TEST BDK", "slot", cfg.DUKPT.Slot, "mode", set.Mode)
		}
	case errors.Is(err, dukptkeys.ErrNotProvisioned):
		log.Error("no DUKPT key loaded: sales will fail until a key custodian loads one", "slot", cfg.DUKPT.Slot)
	case errors.Is(err, dukptkeys.ErrStateLost):
		// The KSN as the log's card number filter leaves it (the error's
		// own is masked there).
		log.Error("DUKPT key state lost: sales are refused until a key custodian loads a new initial key", "slot", cfg.DUKPT.Slot,
			"ksn_used", usedKSNs(mark, cfg.DUKPT.Slot), "err", err)
	default:
		return fmt.Errorf("DUKPT slot: %w", err)
	}
	return nil
}

// deviceKEK obtains the device KEK from the board profile's source (a TPM
// sealed key on rpi4, a 0600 file on the sim board), waiting at most a
// minute for a TPM that does not answer. The key store keeps its own copy;
// the bytes returned by the source are wiped here.
func (d *Daemon) deviceKEK() (*keystore.StaticKEK, error) {
	src, err := kek.New(d.Settings.Profile.KEK, kek.Opts{DataDir: d.Config.DataDir, Logger: d.Log.With("part", "kek")})
	if err != nil {
		return nil, fmt.Errorf("device KEK: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, err := src.KEK(ctx)
	if err != nil {
		return nil, fmt.Errorf("device KEK: %w", err)
	}
	defer clear(key)
	return keystore.NewStaticKEK(key)
}

// prepareDataDir creates the data directory (0700) or tightens one that
// others may read: it holds the database, the KEK file on the sim board
// and the API token.
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("data dir was open to other users; restricting it to posd", "dir", dir, "mode", fi.Mode().Perm().String())
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	return nil
}

// SettleAgainStatus is a close of the open batch that got no answer
// (txn.Engine.LostClose).
type SettleAgainStatus struct {
	Batch uint32 `json:"batch"`
	Close string `json:"close"` // the settlement record's id
	// Message is the cashier's words for it.
	Message string `json:"message"`
}

// Status is the terminal's state as the field engineer and the cashier's
// tools see it (GET /v1/status, posctl status, the console).
type Status struct {
	Version    string `json:"version"`
	Board      string `json:"board"`
	TerminalID string `json:"terminal_id"`
	MerchantID string `json:"merchant_id"`
	Host       string `json:"host"`
	// HostLink is what the exchanges with the host have shown: its last
	// answer, and the failures since (their class and count).
	HostLink   host.LinkState `json:"host_link"`
	Dialect    string         `json:"dialect"`
	DUKPTMode  string         `json:"dukpt_mode"`
	KSN        string         `json:"ksn,omitempty"`
	KeyError   string         `json:"key_error,omitempty"`
	ActiveSale string         `json:"active_sale"`
	// ActivePhase is what the active sale waits for or does, as the
	// customer display shows it (txn.Phase: "waiting_card", "pin",
	// "select_app", "processing"...), so the cashier's tools can tell a
	// sale waiting on the customer from one waiting on the host.
	ActivePhase      string `json:"active_phase,omitempty"`
	PendingReversals int    `json:"pending_reversals"`
	// SettleByHand are the transactions the terminal can do nothing more
	// about though money may have moved (txn.SetAside): the merchant
	// settles them with the acquirer or the platform. Absent when none.
	SettleByHand *HandStatus `json:"settle_by_hand,omitempty"`
	// OpenBatch is the number of the batch new transactions go into.
	OpenBatch uint32 `json:"open_batch"`
	// SettleAgain names the open batch's last close when it got no
	// answer (the host may have closed the batch): close it again. Absent
	// otherwise.
	SettleAgain *SettleAgainStatus `json:"settle_again,omitempty"`
	// Console is where the field engineer attaches the service console
	// (the debug UART; on the sim board a pseudo-terminal), empty when
	// there is none.
	Console string `json:"console,omitempty"`
	// Wallet is the wallet platforms' gateway (empty: none), and
	// CodeReaders what reads the customers' payment codes ("scanner",
	// "camera").
	Wallet      string   `json:"wallet,omitempty"`
	CodeReaders []string `json:"code_readers,omitempty"`
	// Face is face pay: on or why not, and the frames it has read.
	Face *FaceStatus `json:"face,omitempty"`
	// Firmware is the A/B slot state under posd-supervisor: the running
	// slot, whether it is a trial, and the slots' versions.
	Firmware *FirmwareView `json:"firmware,omitempty"`
	// Params is the parameter set received over the air that is in use
	// (nil: none yet, the configuration's).
	Params *ParamsSet `json:"params,omitempty"`
	// DeviceFaults are the devices missing or failed at start or at the
	// last self test, "NAME: why" each (empty: every device works).
	DeviceFaults []string `json:"device_faults,omitempty"`
	// Offline is what the card approved offline and the host does not
	// have yet.
	Offline OfflineStatus `json:"offline"`
	// Printer is the receipt printer as the last documents left it (nil:
	// none): what did not print and why (GET /v1/printer asks it).
	Printer *PrinterStatus `json:"printer,omitempty"`
	// Clock is the terminal's time and whether it can be trusted.
	Clock ClockStatus `json:"clock"`
	// AutoSettle is the daily settlement (settlement.auto_at); absent
	// when the terminal settles only when the cashier closes the batch.
	AutoSettle *AutoSettleStatus `json:"auto_settle,omitempty"`
	// Storage is the data partition: free and total bytes, the database
	// file's size, the reserve below which no transaction starts, and
	// problem when it is reached (or the partition cannot be measured).
	Storage StorageStatus `json:"storage"`
	// DatabaseBehind is set when posd.db was, at start, behind the
	// counters' high-water mark: an older copy of the file (a backup put
	// back). Its counters were moved past the mark; the transactions made
	// after the copy are not in it.
	DatabaseBehind *BehindStatus `json:"database_behind,omitempty"`
	Uptime         string        `json:"uptime"`
}

// HandStatus is the transactions to settle by hand: how many, and the
// first of them by id (at most handShown).
type HandStatus struct {
	Count int            `json:"count"`
	First []txn.SetAside `json:"first"`
}

// handShown bounds the transactions to settle by hand the status lists.
const handShown = 20

// handStatus is the engine's list of transactions to settle by hand (nil:
// none), and how many of them are reversals the terminal no longer tries.
func handStatus(aside []txn.SetAside) (*HandStatus, int) {
	if len(aside) == 0 {
		return nil, 0
	}
	reversals := 0
	for _, a := range aside {
		if a.Why == txn.AsideFaceNotReversed {
			reversals++
		}
	}
	return &HandStatus{Count: len(aside), First: aside[:min(len(aside), handShown)]}, reversals
}

// StorageStatus is the data partition as the engineer sees it.
type StorageStatus struct {
	store.Room
	Problem string `json:"problem,omitempty"`
}

// storageStatus measures the data partition.
func (d *Daemon) storageStatus() StorageStatus {
	r, err := d.DB.Room()
	s := StorageStatus{Room: r}
	switch {
	case err != nil:
		s.Problem = err.Error()
	case r.Low():
		s.Problem = "data partition full: no transaction starts until space is freed"
	}
	if ids := d.Engine.Stranded(); len(ids) > 0 {
		s.Problem = strings.TrimPrefix(s.Problem+"; ", "; ") + fmt.Sprintf("the outcome of transaction %s could not be written: "+
			"no transaction starts until it is (posd retries by itself; check the data partition)", strings.Join(ids, ", "))
	}
	return s
}

// ClockStatus is the terminal's time as posd judges it.
type ClockStatus struct {
	// Now is the terminal's time (UTC, RFC 3339).
	Now string `json:"now"`
	// NotBefore is the firmware's build time, a time the clock cannot
	// truly be before ("" when the build does not say).
	NotBefore string `json:"not_before,omitempty"`
	// Problem says why the clock cannot be trusted (before NotBefore,
	// behind the newest offline approval waiting, away from the
	// acquirer's): nothing is approved offline until it is set. Empty
	// when it can.
	Problem string `json:"problem,omitempty"`
	// AcquirerOffset is how far the clock is ahead of the acquirer's
	// ("+24h0m0s"; "-" behind), as of its last answer that carried its
	// time (AcquirerSeen, by the terminal's clock); "" before one.
	AcquirerOffset string `json:"acquirer_offset,omitempty"`
	AcquirerSeen   string `json:"acquirer_seen,omitempty"`
}

// observeHostTime notes the acquirer's time of an answer and logs when
// the terminal's clock comes to differ from it by more than the risk
// rules' tolerance, and when it is back in step.
func (d *Daemon) observeHostTime(t time.Time) {
	d.hostClock.Observe(t)
	skew, _, _ := d.hostClock.Skew()
	off := skew > risk.ClockTolerance || skew < -risk.ClockTolerance
	if d.clockOff.Swap(off) == off {
		return
	}
	if off {
		d.Log.Warn("the clock differs from the acquirer's: no offline approvals until it is set (NTP, the board's clock)",
			"offset", skew.Round(time.Second).String())
	} else {
		d.Log.Info("the clock is in step with the acquirer's again", "offset", skew.Round(time.Second).String())
	}
}

// offsetText words the clock's offset from the acquirer's ("+24h0m0s",
// "-3s"). The acquirer's time comes in whole seconds, so an offset
// under a second either way is no offset: "0s".
func offsetText(skew time.Duration) string {
	if skew > -time.Second && skew < time.Second {
		return "0s"
	}
	s := skew.Round(time.Second).String()
	if skew > 0 {
		s = "+" + s
	}
	return s
}

// clockStatus judges the terminal's clock (risk.Engine.CheckClock) on
// the offline ledger's summary s (ledgerErr: it could not be read).
func (d *Daemon) clockStatus(s risk.OfflineSummary, ledgerErr error) ClockStatus {
	c := ClockStatus{Now: time.Now().UTC().Format(time.RFC3339)}
	if !d.built.IsZero() {
		c.NotBefore = d.built.UTC().Format(time.RFC3339)
	}
	if skew, seen, ok := d.hostClock.Skew(); ok {
		c.AcquirerOffset = offsetText(skew)
		c.AcquirerSeen = seen.UTC().Format(time.RFC3339)
	}
	if d.Risk == nil { // a daemon built by hand, in tests of the API
		return c
	}
	if ledgerErr != nil {
		c.Problem = fmt.Errorf("%w: %w", risk.ErrOffline, ledgerErr).Error()
	} else if err := d.Risk.CheckClockOf(s); err != nil {
		c.Problem = err.Error()
	}
	return c
}

// OfflineStatus sums the offline approvals waiting for their advice.
type OfflineStatus struct {
	Count int `json:"count"`
	// Amount is their sum in minor units of the terminal's currency.
	Amount int64 `json:"amount"`
	// OldestAge is how long the oldest has waited ("" when none).
	OldestAge string `json:"oldest_age,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Offline reads the offline approvals waiting to be forwarded.
func (d *Daemon) Offline() OfflineStatus {
	return offlineStatus(txn.OfflineLedger{Store: d.DB}.OfflinePending(context.Background()))
}

// offlineStatus words what the offline ledger said.
func offlineStatus(s risk.OfflineSummary, err error) OfflineStatus {
	if err != nil {
		return OfflineStatus{Error: err.Error()}
	}
	o := OfflineStatus{Count: s.Count, Amount: s.Amount}
	if s.Count > 0 {
		o.OldestAge = time.Since(s.Oldest).Round(time.Second).String()
	}
	return o
}

// Status reports the terminal's state; it reads counts, never records.
func (d *Daemon) Status() Status {
	// The offline ledger, read once for the offline counts and the clock.
	ledger, ledgerErr := txn.OfflineLedger{Store: d.DB}.OfflinePending(context.Background())
	st := Status{
		Version: d.Version, Board: d.Settings.Profile.Name, TerminalID: d.Config.Terminal.ID,
		MerchantID: d.Config.Terminal.MerchantID, Host: d.Host.Addr(), HostLink: d.Host.LinkState(), Dialect: d.Settings.Dialect.Name,
		DUKPTMode: string(d.Settings.Mode), ActiveSale: d.Engine.Active(),
		PendingReversals: d.DB.Count(store.StateReversalPending), Offline: offlineStatus(ledger, ledgerErr), OpenBatch: d.DB.OpenBatch(),
		Console: d.consoleWhere, Wallet: d.Config.Wallet.URL, CodeReaders: d.codeReaders,
		Face: d.faceStatus(), Clock: d.clockStatus(ledger, ledgerErr), AutoSettle: d.settle.Status(),
		Storage: d.storageStatus(), Uptime: time.Since(d.started).Round(time.Second).String(), DatabaseBehind: d.behind,
	}
	if batch, id := d.Engine.LostClose(); id != "" {
		en, zh, _ := ui.BatchText(txn.BatchSettleAgain)
		st.SettleAgain = &SettleAgainStatus{Batch: batch, Close: id, Message: en + " / " + zh}
	}
	var givenUp int
	st.SettleByHand, givenUp = handStatus(d.Engine.Aside())
	st.PendingReversals -= givenUp + d.Engine.SettledReversals()
	st.DeviceFaults = d.deviceFaults(d.Board.Status())
	if ev := d.Engine.Last(); st.ActiveSale != "" && ev.Txn.ID == st.ActiveSale {
		st.ActivePhase = string(ev.Phase)
	}
	if p := d.Params(); p.Version > 0 {
		st.Params = &p
	}
	if d.receipts != nil {
		p := d.receipts.cached()
		st.Printer = &p
	}
	if d.fw != nil {
		st.Firmware = &FirmwareView{Updater: d.fw.kind, Slot: d.fw.slot, Trial: d.fw.trial}
		if s, err := d.fw.m.Status(context.Background()); err == nil {
			st.Firmware.Slots = &s
		} else {
			st.Firmware.Error = err.Error()
		}
	}
	if ksn, err := d.Keys.KSN(); err == nil {
		st.KSN = ksn
	} else {
		st.KeyError = err.Error()
	}
	return st
}

// EchoResult is a link test's outcome.
type EchoResult struct {
	Host      string `json:"host"`
	Result    string `json:"result"`
	STAN      string `json:"stan"`
	RoundTrip string `json:"round_trip"`
}

// Echo is the field engineer's link test: a network management echo to
// the acquirer (0800 DE70 301 in ascii87, 0820 in cup).
func (d *Daemon) Echo(ctx context.Context) (EchoResult, error) {
	stan, err := d.DB.NextSTAN()
	if err != nil {
		return EchoResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.Settings.ConnectTimeout+d.Settings.ResponseTimeout)
	defer cancel()
	t0 := time.Now()
	if err := d.Host.Echo(ctx, stan); err != nil {
		return EchoResult{}, err
	}
	return EchoResult{Host: d.Config.Host.Addr, Result: "ok", STAN: fmt.Sprintf("%06d", stan),
		RoundTrip: time.Since(t0).Round(time.Millisecond).String()}, nil
}

// Healthy holds while the database answers; the systemd watchdog
// restarts posd when it stops holding.
func (d *Daemon) Healthy() bool {
	return d.DB.View(func(*store.Tx) error { return nil }) == nil
}

// StopSales stops the sale engine: a sale waiting for a card ends with
// reason shutdown (its waiters get the record), an exchange with the host
// under way may finish until ctx ends. The local API calls it once it stops
// accepting requests, before the remaining ones are answered.
func (d *Daemon) StopSales(ctx context.Context) error {
	d.stopOnce.Do(func() {
		if d.Engine != nil {
			if err := d.Engine.Shutdown(ctx); err != nil {
				d.stopErr = fmt.Errorf("sale engine: %w", err)
			}
		}
	})
	d.stopTold.Store(true)
	return d.stopErr
}

// Close stops the sale engine (if StopSales did not), the host link, the
// service console, the board and the watchdog, lowers the KSN mark to the key in use, and closes
// the database: in that order, so nothing writes to a closed database.
//
// The sale engine's error is Close's only when StopSales had not already
// returned it: a shutdown reports it once.
func (d *Daemon) Close(ctx context.Context) error {
	told := d.stopTold.Load()
	var errs []error
	if err := d.StopSales(ctx); !told {
		errs = append(errs, err)
	}
	d.closeReceipts(ctx)
	// No echo is sent, or left under way, once the link closes.
	if d.heartbeatStop != nil {
		d.heartbeatStop()
		<-d.heartbeatDone
	}
	if d.Host != nil {
		errs = append(errs, closeWithin(ctx, d.Host.Close, d.Log))
	}
	// The console goes before the board closes its line: its session
	// then ends as a shutdown, not as a failed port.
	if d.consoleStop != nil {
		d.consoleStop()
		<-d.consoleDone
	}
	if d.Board != nil {
		errs = append(errs, d.Board.Halt())
	}
	if d.qr != nil {
		errs = append(errs, d.qr.Close())
	}
	d.closeFace()
	d.cancel()
	if d.watchdogDone != nil {
		<-d.watchdogDone
	}
	if d.purgeDone != nil {
		<-d.purgeDone
	}
	if d.settleDone != nil {
		<-d.settleDone
	}
	if d.rklDone != nil {
		<-d.rklDone
	}
	if d.ota != nil {
		<-d.ota.done
	}
	if d.fw != nil && d.fw.close != nil {
		errs = append(errs, d.fw.close())
	}
	if d.Keys != nil && d.Engine != nil {
		if err := d.Keys.Park(); err != nil && !errors.Is(err, dukptkeys.ErrNotProvisioned) && !errors.Is(err, dukptkeys.ErrStateLost) {
			errs = append(errs, fmt.Errorf("DUKPT mark: %w", err))
		}
	}
	if d.DB != nil {
		errs = append(errs, d.DB.Close())
	}
	if d.sealer != nil {
		errs = append(errs, d.sealer.Close())
	}
	if d.kek != nil {
		d.kek.Wipe()
	}
	return errors.Join(errs...)
}

// closeWithin runs closeFn but gives up waiting when ctx ends: a wedged
// connection must not keep posd from closing its database on SIGTERM.
func closeWithin(ctx context.Context, closeFn func() error, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- closeFn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		log.Error("host link did not close in time; shutting down without it")
		return nil
	}
}
