package ota

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"posd/conn/clock"
)

// Defaults of Opts.
const (
	DefaultMaxMetadata  = 1 << 20   // bytes, any metadata file
	DefaultMaxTarget    = 256 << 20 // bytes, any target
	DefaultFetchTimeout = 10 * time.Minute
	DefaultMinFree      = 32 << 20 // bytes
	// DefaultMinRate and DefaultMinRateWindow: a download that brings
	// less than 1 KiB/s over 30 s is given up (Opts.MinRate).
	DefaultMinRate       = 1 << 10 // bytes per second
	DefaultMinRateWindow = 30 * time.Second
	// maxTimestamp bounds timestamp.json below MaxMetadata: it is tiny,
	// and fetched at every Check.
	maxTimestamp = 16 << 10
)

// TerminalHeader is the request header that names the terminal to the TMS.
const TerminalHeader = "X-Terminal-ID"

// Kinds of targets (their custom "kind").
const (
	KindParams   = "params"
	KindFirmware = "firmware"
)

// Opts configures a Client.
type Opts struct {
	// BaseURL is the TMS repository of the terminal's group: metadata
	// under BaseURL/metadata/, targets under BaseURL/targets/.
	BaseURL string
	// TerminalID is sent in the X-Terminal-ID header of every request.
	TerminalID string
	// Root is the pinned root.json the terminal ships with. A newer root
	// learned by a Check (and kept in Dir) takes over from it.
	Root []byte
	// Dir holds the trusted metadata and the downloads (see the package
	// documentation); created if missing.
	Dir string
	// MaxMetadata bounds every metadata file (0: DefaultMaxMetadata).
	MaxMetadata int64
	// MaxTarget bounds every target, whatever its signed length says (0:
	// DefaultMaxTarget).
	MaxTarget int64
	// MinFree is the room a download larger than a parameter bundle
	// (MaxBundle) leaves free on the file system of Dir, which the
	// terminal's database may share (0: DefaultMinFree).
	MinFree int64
	// FreeSpace tells the bytes free for posd on the file system of dir
	// (nil: statfs; where that is unknown, downloads are not checked
	// ahead).
	FreeSpace func(dir string) (int64, error)
	// FetchTimeout bounds one Check or one Fetch, wall-clock (0:
	// DefaultFetchTimeout).
	FetchTimeout time.Duration
	HTTP         *http.Client // nil: a client of its own, no timeout but FetchTimeout
	// MinRate is the floor of a download's rate, in bytes per second: a
	// request whose answer brings fewer than MinRate·MinRateWindow bytes
	// (or the rest of the file, when less) in a window of MinRateWindow is
	// given up (ErrTooSlow); what it brought is kept for the next Fetch to
	// resume. Without it a TMS or a middlebox that trickles a byte every
	// few seconds holds the download (and the Check or Fetch) up to
	// FetchTimeout. 0: DefaultMinRate; negative: no floor.
	MinRate int64
	// MinRateWindow is the window MinRate is judged over (0:
	// DefaultMinRateWindow).
	MinRateWindow time.Duration
	// RateClock times MinRateWindow (nil: clock.Real, which runs on Go's
	// monotonic clock). It is not Clock: a download's rate is time that
	// passed, which setting the wall clock does not change.
	RateClock clock.Clock
	// Clock is the time metadata expiry is judged by, and Poll's schedule
	// (nil: clock.Real).
	Clock clock.Clock
	// Elapsed is the time passed since an arbitrary origin, by a clock
	// that setting Clock does not change (nil: Go's monotonic clock). It
	// carries the time expiry is judged at across a clock set back within
	// one run (see judgeAt).
	Elapsed func() time.Duration
	// Rand draws Poll's jitter (nil: seeded from crypto/rand).
	Rand   *rand.Rand
	Logger *slog.Logger // nil: discard
}

// Target is one file the repository offers, as its signed targets
// metadata describes it.
type Target struct {
	Name    string // "params/emv-7.json", "firmware/posd-12.img"
	Length  int64  // bytes
	SHA256  string // lower-case hex
	Kind    string // custom "kind": KindParams, KindFirmware ("" when absent)
	Version int    // custom "version" (0 when absent)
}

// Client checks and fetches updates from one TUF repository. Check and
// Fetch are safe for concurrent use; they run one at a time.
type Client struct {
	o          Opts
	clk        clock.Clock
	log        *slog.Logger
	http       *http.Client
	metaURL    string
	targetsURL string
	metaDir    string
	targetsDir string
	partialDir string
	// pinnedVersion is the version of the pinned root.
	pinnedVersion int64
	// floorPath keeps floor, seenPath judged and trustedExp, across
	// restarts.
	floorPath string
	seenPath  string
	// rootsDir keeps the chain of roots learned (see trustedRoot).
	rootsDir string

	rndMu sync.Mutex
	rnd   *rand.Rand

	mu  sync.Mutex // serializes Check and Fetch; guards up, cfg and floor
	up  *updater.Updater
	cfg *config.UpdaterConfig
	// floor is the earliest time expiry is judged at: just after the
	// expiry of the newest trusted timestamp the clock was once seen past
	// (zero: none). See judgeAt.
	floor time.Time
	// elapsed is Opts.Elapsed; judged and judgedMono the time the last
	// Check saw (see judgeAt; kept across restarts, when judgedMono is the
	// elapsed at New) and elapsed then (judged zero: none yet), trustedExp
	// the expiry of the timestamp it trusted then.
	elapsed    func() time.Duration
	judged     time.Time
	judgedMono time.Duration
	trustedExp time.Time
}

// New checks o and returns a client; it creates Dir. Nothing is fetched.
func New(o Opts) (*Client, error) {
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: BaseURL %q is not an http(s) URL", ErrConfig, o.BaseURL)
	}
	if strings.ContainsAny(o.TerminalID, "\r\n") {
		return nil, fmt.Errorf("%w: TerminalID has a line break", ErrConfig)
	}
	if o.Dir == "" {
		return nil, fmt.Errorf("%w: no Dir", ErrConfig)
	}
	pinned, err := verifiedRoot(o.Root)
	if err != nil {
		return nil, fmt.Errorf("%w: pinned root: %w", ErrConfig, err)
	}
	if o.MaxMetadata <= 0 {
		o.MaxMetadata = DefaultMaxMetadata
	}
	if o.MaxTarget <= 0 {
		o.MaxTarget = DefaultMaxTarget
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.MinFree <= 0 {
		o.MinFree = DefaultMinFree
	}
	if o.MinRate == 0 {
		o.MinRate = DefaultMinRate
	}
	if o.MinRateWindow <= 0 {
		o.MinRateWindow = DefaultMinRateWindow
	}
	o.RateClock = clock.Or(o.RateClock)
	if o.FreeSpace == nil {
		o.FreeSpace = statfsFree
	}
	base := strings.TrimRight(o.BaseURL, "/")
	c := &Client{o: o, clk: clock.Or(o.Clock), log: o.Logger, http: o.HTTP, rnd: o.Rand,
		metaURL: base + "/metadata", targetsURL: base + "/targets",
		metaDir: filepath.Join(o.Dir, "metadata"), targetsDir: filepath.Join(o.Dir, "targets"),
		partialDir: filepath.Join(o.Dir, "partial"), pinnedVersion: pinned.Signed.Version,
		floorPath: filepath.Join(o.Dir, floorFile), seenPath: filepath.Join(o.Dir, seenFile), rootsDir: filepath.Join(o.Dir, rootsDir)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.rnd == nil {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("ota: seeding the jitter: %w", err)
		}
		c.rnd = rand.New(rand.NewChaCha8(seed))
	}
	for _, d := range []string{c.metaDir, c.targetsDir, c.partialDir, c.rootsDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("ota: %w", err)
		}
	}
	c.removeStale()
	c.floor = c.readFloor()
	c.elapsed = o.Elapsed
	if c.elapsed == nil {
		start := time.Now()
		c.elapsed = func() time.Duration { return time.Since(start) }
	}
	c.readSeen(c.elapsed())
	return c, nil
}

// removeStale removes the temporary files a process killed while writing
// left behind (go-tuf's in metadata/, the client's own in Dir): nothing
// else writes there while a Client starts on Dir.
func (c *Client) removeStale() {
	for _, pattern := range []string{filepath.Join(c.metaDir, "tuf_tmp*"), filepath.Join(c.o.Dir, floorFile+".tmp*"), filepath.Join(c.o.Dir, seenFile+".tmp*"),
		filepath.Join(c.rootsDir, "*.tmp*"), filepath.Join(c.o.Dir, pollFile+".tmp*")} {
		ms, _ := filepath.Glob(pattern)
		for _, m := range ms {
			if err := os.Remove(m); err == nil {
				c.log.Info("ota: removed a file left by an interrupted write", "file", m)
			}
		}
	}
}

// verifiedRoot parses a root.json and checks it is signed by a threshold
// of its own root keys.
func verifiedRoot(b []byte) (*metadata.Metadata[metadata.RootType], error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty root")
	}
	r, err := metadata.Root().FromBytes(b)
	if err != nil {
		return nil, err
	}
	if r.Signed.Type != metadata.ROOT {
		return nil, fmt.Errorf("not a root: %q", r.Signed.Type)
	}
	if err := r.VerifyDelegate(metadata.ROOT, r); err != nil {
		return nil, err
	}
	return r, nil
}

// rootsDir (in Opts.Dir) keeps every root a Check learned after the
// pinned one, N.root.json, each written durably once it verified against
// the one before. go-tuf's own copy (metadata/root.json) is rewritten at
// every Check without being synced, so a power cut can leave it empty or
// cut short; and it is whatever file is there, which anyone able to write
// the directory could have replaced with a root of their own keys. The
// chain is the terminal's memory of its trust instead: starting over from
// the pinned root would make the terminal depend on the repository still
// serving every root since, and accept an older root from a repository
// that stops the chain early (by design or by an attacker holding
// retired keys); a file that does not chain from the pinned root is
// never trusted.
const rootsDir = "roots"

// maxRootChain bounds the root versions walked (go-tuf's bound of root
// rotations in one Check).
const maxRootChain = 256

// trustedRoot is the root a Check starts from: the newest root of the
// chain kept in Dir (rootsDir) that verifies, each version against the one
// before, from the pinned root on. A file that is missing, damaged or
// does not verify ends the chain there (a later Check learns the rest from
// the repository again).
func (c *Client) trustedRoot() []byte {
	tm, err := trustedmetadata.New(c.o.Root)
	if err != nil {
		return c.o.Root // New checked it: not reached
	}
	best := c.o.Root
	for v := c.pinnedVersion + 1; v <= c.pinnedVersion+maxRootChain; v++ {
		b, err := os.ReadFile(c.chainPath(v))
		if err != nil || int64(len(b)) > c.o.MaxMetadata {
			break
		}
		if _, err := safelyRoot(tm, b); err != nil {
			c.log.Warn("ota: kept root does not verify against the one before; passed over", "version", v, "err", err)
			break
		}
		best = b
	}
	return best
}

// chainPath is where root version v is kept.
func (c *Client) chainPath(v int64) string {
	return filepath.Join(c.rootsDir, strconv.FormatInt(v, 10)+".root.json")
}

// safelyRoot is tm.UpdateRoot(b), a panic in it a refusal.
func safelyRoot(tm *trustedmetadata.TrustedMetadata, b []byte) (*metadata.Metadata[metadata.RootType], error) {
	var r *metadata.Metadata[metadata.RootType]
	err := safely(func() error {
		var err error
		r, err = tm.UpdateRoot(b)
		return err
	})
	return r, err
}

// keepRoots keeps, durably, the roots a refresh that started from root
// learned (f saw them downloaded): each after it verified against the one
// before. It also makes go-tuf's own files durable.
func (c *Client) keepRoots(root []byte, f *fetcher) {
	if err := syncFiles(c.metaDir, "root.json", "timestamp.json", "snapshot.json", "targets.json"); err != nil {
		c.log.Warn("ota: syncing the trusted metadata", "err", err)
	}
	if len(f.roots) == 0 {
		return
	}
	tm, err := trustedmetadata.New(root)
	if err != nil {
		return
	}
	wrote := false
	for v := tm.Root.Signed.Version + 1; ; v++ {
		b, ok := f.roots[v]
		if !ok {
			break
		}
		if _, err := safelyRoot(tm, b); err != nil {
			break // go-tuf refused it too
		}
		if err := writeDurably(c.chainPath(v), b); err != nil {
			c.log.Warn("ota: keeping a learned root", "version", v, "err", err)
			break
		}
		wrote = true
	}
	if wrote {
		c.log.Info("ota: learned a new root", "version", tm.Root.Signed.Version)
	}
}

// scrubLocal removes kept metadata files that no longer parse (go-tuf
// would stop at them, and they protect nothing) and tells whether it
// removed any.
func (c *Client) scrubLocal() bool {
	removed := false
	for _, role := range []string{metadata.TIMESTAMP, metadata.SNAPSHOT, metadata.TARGETS} {
		p := filepath.Join(c.metaDir, role+".json")
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		switch role {
		case metadata.TIMESTAMP:
			_, err = metadata.Timestamp().FromBytes(b)
		case metadata.SNAPSHOT:
			_, err = metadata.Snapshot().FromBytes(b)
		default:
			_, err = metadata.Targets().FromBytes(b)
		}
		if err != nil || int64(len(b)) > c.o.MaxMetadata {
			c.log.Warn("ota: removing kept metadata that does not parse", "file", role+".json", "err", err)
			removed = os.Remove(p) == nil || removed
		}
	}
	return removed
}

// Check refreshes the trusted metadata from the repository (go-tuf's
// client workflow: root chain, timestamp, snapshot, targets, with
// signature, threshold, expiry, rollback and mix-and-match checks) and
// returns every target the repository offers, sorted by name. On an error
// nothing is returned, and Fetch refreshes again before downloading.
func (c *Client) Check(ctx context.Context) ([]Target, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refresh(ctx)
}

func (c *Client) refresh(ctx context.Context) ([]Target, error) {
	c.up, c.cfg = nil, nil
	ctx, cancel := context.WithTimeoutCause(ctx, c.o.FetchTimeout, ErrTimeout)
	defer cancel()
	ts, err := c.refreshOnce(ctx)
	if errors.Is(err, ErrMalformed) && c.scrubLocal() {
		// A kept file that no longer parses stops go-tuf for good: without
		// it, the refresh starts over from the network.
		ts, err = c.refreshOnce(ctx)
	}
	return ts, err
}

func (c *Client) refreshOnce(ctx context.Context) ([]Target, error) {
	root := c.trustedRoot()
	up, f, cfg, err := c.updater(ctx, root)
	if err != nil && !bytes.Equal(root, c.o.Root) {
		c.log.Warn("ota: kept root.json unusable; starting from the pinned root", "err", err)
		root = c.o.Root
		up, f, cfg, err = c.updater(ctx, root)
	}
	if err != nil {
		return nil, classify("root.json", false, err)
	}
	// go-tuf judges expiry at a reference time: posd's clock, but never
	// before a timestamp expiry it was once seen past.
	now, mono := c.clk.Now().UTC(), c.elapsed()
	at, seen := c.judgeAt(now, mono)
	up.UnsafeSetRefTime(at)
	err = safely(up.Refresh)
	c.keepRoots(root, f)
	c.notePast(up, at, seen, mono)
	if err != nil {
		err = classify(f.last, false, err)
		var r *RefusedError
		if errors.Is(err, ErrExpired) && errors.As(err, &r) {
			r.Err = fmt.Errorf("%w (%s)", r.Err, expiryNote(up, r.File, now, at))
		}
		c.log.Warn("ota: check failed", "err", err)
		return nil, err
	}
	var ts []Target
	for name, tf := range up.GetTopLevelTargets() {
		t, ok := c.target(name, tf)
		if ok {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	c.up, c.cfg = up, cfg
	c.prune(ts)
	tm := up.GetTrustedMetadataSet()
	c.log.Info("ota: checked", "root", tm.Root.Signed.Version, "timestamp", tm.Timestamp.Signed.Version,
		"snapshot", tm.Snapshot.Signed.Version, "targets", tm.Targets[metadata.TARGETS].Signed.Version, "offered", len(ts))
	return ts, nil
}

// updater is a go-tuf updater starting from root, downloading through a
// fetcher of ctx.
func (c *Client) updater(ctx context.Context, root []byte) (*updater.Updater, *fetcher, *config.UpdaterConfig, error) {
	cfg, err := config.New(c.metaURL, root)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg.LocalMetadataDir = c.metaDir
	cfg.LocalTargetsDir = c.targetsDir
	cfg.RemoteTargetsURL = c.targetsURL
	cfg.RootMaxLength = c.o.MaxMetadata
	cfg.TimestampMaxLength = min(maxTimestamp, c.o.MaxMetadata)
	cfg.SnapshotMaxLength = c.o.MaxMetadata
	cfg.TargetsMaxLength = c.o.MaxMetadata
	cfg.PrefixTargetsWithHash = true
	f := &fetcher{c: c, ctx: ctx}
	cfg.Fetcher = f
	up, err := updater.New(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	return up, f, cfg, nil
}

// target describes a signed target file; ok is false (and the target
// left out) when it has no sha256.
func (c *Client) target(name string, tf *metadata.TargetFiles) (Target, bool) {
	sum, ok := tf.Hashes["sha256"]
	if !ok || len(sum) != 32 {
		c.log.Warn("ota: target without a sha256 left out", "target", name)
		return Target{}, false
	}
	t := Target{Name: name, Length: tf.Length, SHA256: hex.EncodeToString(sum)}
	if tf.Custom != nil {
		var cu struct {
			Kind    string `json:"kind"`
			Version int    `json:"version"`
		}
		if err := json.Unmarshal(*tf.Custom, &cu); err != nil || cu.Version < 0 {
			c.log.Warn("ota: target custom metadata not understood", "target", name, "err", err)
		} else {
			t.Kind, t.Version = cu.Kind, cu.Version
		}
	}
	return t, true
}

// partialName names the partial download of a target by what it must be.
func partialName(sum string, length int64) string {
	return sum + "-" + strconv.FormatInt(length, 10)
}

// prune removes kept target copies and partial downloads of targets no
// longer offered.
func (c *Client) prune(ts []Target) {
	keepT, keepP := map[string]bool{}, map[string]bool{}
	for _, t := range ts {
		keepT[url.PathEscape(t.Name)] = true
		keepP[partialName(t.SHA256, t.Length)] = true
	}
	for dir, keep := range map[string]map[string]bool{c.targetsDir: keepT, c.partialDir: keepP} {
		es, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range es {
			if !keep[e.Name()] {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}

// Fetch downloads target t (as the last Check returned it; without a
// successful Check since the last failure, it checks first) and returns
// its bytes once go-tuf verified them against the signed length and
// hashes. A verified copy is kept in Dir, so fetching the same target
// again does not download it again. An interrupted download resumes at
// the next Fetch of the same target. It fails with ErrNotFound when t is
// not offered as it was described, ErrTooLarge when it is larger than
// MaxTarget (nothing is downloaded), and never returns unverified bytes.
func (c *Client) Fetch(ctx context.Context, t Target) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// FetchTimeout bounds the Fetch as a whole, the check it may need
	// first included.
	fctx, cancel := context.WithTimeoutCause(ctx, c.o.FetchTimeout, ErrTimeout)
	defer cancel()
	if c.up == nil {
		if _, err := c.refresh(fctx); err != nil {
			return nil, err
		}
	}
	tf := c.up.GetTopLevelTargets()[t.Name]
	if tf == nil || tf.Length != t.Length || hex.EncodeToString(tf.Hashes["sha256"]) != t.SHA256 || t.SHA256 == "" {
		return nil, fmt.Errorf("%w: target %s is not offered as described: check again", ErrNotFound, t.Name)
	}
	if tf.Length > c.o.MaxTarget || tf.Length < 0 {
		return nil, &RefusedError{File: t.Name, Reason: ErrTooLarge,
			Err: fmt.Errorf("signed length %d, MaxTarget %d", tf.Length, c.o.MaxTarget)}
	}
	keep := filepath.Join(c.targetsDir, url.PathEscape(t.Name))
	if st, err := os.Stat(keep); err == nil && st.Size() == tf.Length {
		if _, data, err := c.up.FindCachedTarget(tf, keep); err == nil && data != nil {
			c.log.Debug("ota: target already fetched", "target", t.Name)
			return data, nil
		}
	}
	partial := filepath.Join(c.partialDir, partialName(t.SHA256, t.Length))
	f := &fetcher{c: c, ctx: fctx, partial: partial, name: t.Name}
	// go-tuf would write a second copy of the verified target (its local
	// cache): the partial file becomes the kept copy instead, so a
	// download never needs twice its size on disk.
	c.cfg.Fetcher, c.cfg.DisableLocalCache = f, true
	var data []byte
	download := func() error {
		return safely(func() error {
			var err error
			_, data, err = c.up.DownloadTarget(tf, keep, "")
			return err
		})
	}
	err := download()
	if err != nil && f.resumed && errors.Is(classify(t.Name, true, err), ErrHash) {
		// What was kept from before may be at fault, not the repository
		// (a power cut can leave a file's tail unwritten, a disk can rot):
		// start over once before refusing.
		c.log.Warn("ota: resumed download does not match; downloading it whole", "target", t.Name)
		os.Remove(partial)
		f.resumed = false
		err = download()
	}
	c.cfg.Fetcher, c.cfg.DisableLocalCache = nil, false
	if err != nil {
		err = classify(t.Name, true, err)
		if Refused(err) {
			// What was downloaded is not the target: start over next time.
			os.Remove(partial)
			os.Remove(keep)
		}
		c.log.Warn("ota: fetch failed", "target", t.Name, "err", err)
		return nil, err
	}
	if err := os.Rename(partial, keep); err != nil {
		c.log.Warn("ota: keeping the fetched target", "target", t.Name, "err", err)
		os.Remove(partial)
	}
	c.log.Info("ota: fetched", "target", t.Name, "bytes", len(data))
	return data, nil
}

// safely runs a step of go-tuf: a panic in it (a bug on some input) is
// a refusal of that input, not a crash of posd.
func safely(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: the verifier failed on this input: %v", ErrMalformed, p)
		}
	}()
	return fn()
}

// Newer picks, among targets of the given kind, the one with the highest
// version above running (ties: the first name). Versions only go up: a
// target at or below running is never picked. Targets without a kind are
// never picked.
func Newer(targets []Target, kind string, running int) (Target, bool) {
	var best Target
	found := false
	for _, t := range targets {
		if t.Kind == "" || t.Kind != kind || t.Version <= running {
			continue
		}
		if !found || t.Version > best.Version || t.Version == best.Version && t.Name < best.Name {
			best, found = t, true
		}
	}
	return best, found
}
