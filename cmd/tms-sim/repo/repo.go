// Package repo is the acquirer's TUF repository for one terminal group, as
// tms-sim publishes it: metadata signed with ed25519 keys through go-tuf's
// metadata API, written to a directory and served over HTTP.
//
// Layout on disk (and under Handler, at the same paths):
//
//	metadata/1.root.json, 2.root.json, ...  every root version (the chain a client walks)
//	metadata/root.json                     the newest root (for operators; clients use the chain)
//	metadata/N.targets.json                targets, version N (consistent snapshots)
//	metadata/N.snapshot.json               snapshot, version N
//	metadata/timestamp.json                the newest timestamp
//	targets/params/<sha256>.<name>         parameter bundles, hash-prefixed
//	targets/firmware/<sha256>.<name>       firmware images, hash-prefixed
//
// Root has consistent_snapshot set: clients fetch N.snapshot.json and
// N.targets.json at the version the signed parent names, and target files
// under their hash-prefixed names, so a publish never changes a file a
// client may be reading. Every file is replaced atomically (temp file and
// rename).
//
// Targets carry custom metadata {"kind": "params"|"firmware", "version": N}.
// The timestamp names the snapshot and the snapshot names targets by
// version, length and sha256 (Opts.OmitMetaHashes: by version only).
//
// Besides publishing, a Repo plays the attacker for tests: expiry in the
// past (SetExpiry), too few or foreign signatures (SignOnly, SignForeign),
// a compromised timestamp or snapshot key naming old versions
// (PublishWith), other bytes at a path (Tamper, Override) and connections
// cut mid-file (Cut). Handler records every request with the terminal id
// of its X-Terminal-ID header (Requests, Opts.OnRequest) and serves HTTP
// Range requests, so terminals resume interrupted downloads.
package repo

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"posd/conn/clock"
)

// The top-level roles.
const (
	Root      = metadata.ROOT
	Targets   = metadata.TARGETS
	Snapshot  = metadata.SNAPSHOT
	Timestamp = metadata.TIMESTAMP
)

var roles = []string{Root, Targets, Snapshot, Timestamp}

// defaultExpiry of each role's metadata, from the moment it is signed
// (see Opts.Expiry).
var defaultExpiry = map[string]time.Duration{
	Root:      365 * 24 * time.Hour,
	Targets:   90 * 24 * time.Hour,
	Snapshot:  7 * 24 * time.Hour,
	Timestamp: 24 * time.Hour,
}

// Opts configures a repository. The zero value is one key and threshold 1
// per role, the default expiry, the real clock.
type Opts struct {
	// Threshold is the number of signatures root requires of each role
	// (missing or < 1: 1).
	Threshold map[string]int
	// Keys is the number of keys of each role (missing or below its
	// threshold: the threshold). With more keys than the threshold, tests
	// can sign with fewer (SignOnly).
	Keys map[string]int
	// Expiry overrides the default expiry per role (root 365 days,
	// targets 90, snapshot 7, timestamp 1); SetExpiry changes it later.
	Expiry map[string]time.Duration
	// OmitMetaHashes: the timestamp names the snapshot and the snapshot
	// names targets by version only (TUF allows it), not by length and
	// sha256.
	OmitMetaHashes bool
	// Clock is the time of signing (expiry) and of recorded requests
	// (nil: clock.Real).
	Clock clock.Clock
	// OnRequest, when set, is called after each request Handler served.
	OnRequest func(Request)
	Logger    *slog.Logger // nil: discard
}

// PublishOpts lets a test play a compromised timestamp or snapshot key.
type PublishOpts struct {
	// NameSnapshot > 0: sign only a new timestamp, naming this (existing)
	// snapshot version instead of a new snapshot.
	NameSnapshot int64
	// NameTargets > 0: sign a new snapshot (and timestamp) naming this
	// (existing) targets version instead of new targets.
	NameTargets int64
}

// Rotation replaces keys in a new root version.
type Rotation struct {
	// Roles whose keys are replaced by fresh ones (nil: root only).
	Roles []string
	// Threshold changes the threshold of roles (and their number of keys,
	// when fewer than the threshold).
	Threshold map[string]int
	// WithoutOldKeys: the new root is signed by the new root keys only, not
	// by the old ones (a forged rotation that clients must refuse).
	WithoutOldKeys bool
}

// Repo is one terminal group's TUF repository. Its methods are safe for
// concurrent use; Handler serves while the repository publishes.
type Repo struct {
	dir string
	o   Opts
	clk clock.Clock
	log *slog.Logger

	mu        sync.Mutex
	keys      map[string][]ed25519.PrivateKey
	foreign   ed25519.PrivateKey
	signOnly  map[string]int
	signFgn   map[string]bool
	expiry    map[string]time.Duration
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]

	srv serveState
}

// New creates a repository in dir (created if missing; it should be
// empty): fresh ed25519 keys, root version 1 and the first, empty, targets,
// snapshot and timestamp (version 1 each).
func New(dir string, o Opts) (*Repo, error) {
	r := &Repo{dir: dir, o: o, clk: clock.Or(o.Clock), log: o.Logger,
		keys: map[string][]ed25519.PrivateKey{}, signOnly: map[string]int{}, signFgn: map[string]bool{},
		expiry: map[string]time.Duration{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.srv.init()
	for _, role := range roles {
		r.expiry[role] = defaultExpiry[role]
		if d, ok := o.Expiry[role]; ok {
			r.expiry[role] = d
		}
	}
	for _, sub := range []string{"metadata", "targets"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("repo: %w", err)
		}
	}
	_, fk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("repo: foreign key: %w", err)
	}
	r.foreign = fk

	now := r.clk.Now().UTC()
	r.root = metadata.Root(now.Add(r.expiry[Root]))
	r.root.Signed.ConsistentSnapshot = true
	for _, role := range roles {
		th := max(1, o.Threshold[role])
		n := max(th, o.Keys[role])
		for range n {
			if err := r.addKey(role); err != nil {
				return nil, err
			}
		}
		r.root.Signed.Roles[role].Threshold = th
	}
	if err := r.writeRoot(nil); err != nil {
		return nil, err
	}
	r.targets = metadata.Targets(now)
	r.targets.Signed.Version = 0
	r.snapshot = metadata.Snapshot(now)
	r.snapshot.Signed.Version = 0
	r.timestamp = metadata.Timestamp(now)
	r.timestamp.Signed.Version = 0
	if err := r.publish(PublishOpts{}); err != nil {
		return nil, err
	}
	return r, nil
}

// addKey generates a key for role and names it in root.
func (r *Repo) addKey(role string) error {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("repo: %s key: %w", role, err)
	}
	pub, err := metadata.KeyFromPublicKey(k.Public())
	if err != nil {
		return fmt.Errorf("repo: %s key: %w", role, err)
	}
	if err := r.root.Signed.AddKey(pub, role); err != nil {
		return fmt.Errorf("repo: %s key: %w", role, err)
	}
	r.keys[role] = append(r.keys[role], k)
	return nil
}

// signers are the keys that sign role's metadata now: its own (the first
// SignOnly of them), or the foreign key.
func (r *Repo) signers(role string) []ed25519.PrivateKey {
	if r.signFgn[role] {
		return []ed25519.PrivateKey{r.foreign}
	}
	ks := r.keys[role]
	if n, ok := r.signOnly[role]; ok && n >= 0 && n < len(ks) {
		ks = ks[:n]
	}
	return ks
}

// signable is a go-tuf metadata object.
type signable interface {
	Sign(signature.Signer) (*metadata.Signature, error)
	ClearSignatures()
}

func sign(md signable, keys ...ed25519.PrivateKey) error {
	md.ClearSignatures()
	for _, k := range keys {
		s, err := signature.LoadED25519Signer(k)
		if err != nil {
			return fmt.Errorf("repo: signer: %w", err)
		}
		if _, err := md.Sign(s); err != nil {
			return fmt.Errorf("repo: signing: %w", err)
		}
	}
	return nil
}

// writeRoot signs the current root (with its own signers and extra, the
// previous root's keys on a rotation) and writes it as N.root.json and
// root.json.
func (r *Repo) writeRoot(extra []ed25519.PrivateKey) error {
	keys := append(append([]ed25519.PrivateKey{}, extra...), r.signers(Root)...)
	if err := sign(r.root, keys...); err != nil {
		return err
	}
	b, err := r.root.ToBytes(true)
	if err != nil {
		return fmt.Errorf("repo: root: %w", err)
	}
	v := r.root.Signed.Version
	if err := r.write(fmt.Sprintf("metadata/%d.root.json", v), b); err != nil {
		return err
	}
	return r.write("metadata/root.json", b)
}

// write replaces the file rel (slash-separated, under dir) atomically.
func (r *Repo) write(rel string, data []byte) error {
	p := filepath.Join(r.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("repo: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("repo: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), p)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("repo: writing %s: %w", rel, werr)
	}
	return nil
}

// checkName refuses target names that are not clean relative paths.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.Contains(name, "\\") ||
		name == "." || strings.HasPrefix(name, "../") || name == ".." || path.Base(name) == "." {
		return fmt.Errorf("repo: target name %q is not a clean relative path", name)
	}
	return nil
}

// hashPath is the repository path of a target file: its directory, then
// <sha256>.<base name>.
func hashPath(name, sum string) string {
	dir, base := path.Split(name)
	return "targets/" + dir + sum + "." + base
}

// AddTarget stores data as target name ("params/emv-7.json",
// "firmware/posd-12.img") with custom metadata (nil: none), e.g.
// {"kind": "firmware", "version": 12}. A target of the same name is
// replaced. The file is written at once (under its hash-prefixed name, so
// no client sees it before); clients learn of it at the next Publish.
func (r *Repo) AddTarget(name string, data []byte, custom map[string]any) error {
	if err := checkName(name); err != nil {
		return err
	}
	tf, err := metadata.TargetFile().FromBytes(name, data, "sha256")
	if err != nil {
		return fmt.Errorf("repo: target %s: %w", name, err)
	}
	if custom != nil {
		b, err := json.Marshal(custom)
		if err != nil {
			return fmt.Errorf("repo: target %s custom: %w", name, err)
		}
		raw := json.RawMessage(b)
		tf.Custom = &raw
	}
	if err := r.write(hashPath(name, hex.EncodeToString(tf.Hashes["sha256"])), data); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.targets.Signed.Targets[name] = tf
	return nil
}

// RemoveTarget drops target name from the next Publish (its file stays,
// for clients still on older metadata).
func (r *Repo) RemoveTarget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.targets.Signed.Targets, name)
}

// TargetPath is the URL path Handler serves target name at (as last
// added), e.g. "/targets/firmware/<sha256>.posd-12.img".
func (r *Repo) TargetPath(name string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tf, ok := r.targets.Signed.Targets[name]
	if !ok {
		return "", fmt.Errorf("repo: no target %s", name)
	}
	return "/" + hashPath(name, hex.EncodeToString(tf.Hashes["sha256"])), nil
}

// Publish signs and writes new versions of targets, snapshot and
// timestamp.
func (r *Repo) Publish() error { return r.PublishWith(PublishOpts{}) }

// PublishWith publishes as Publish, or, with p set, as a compromised
// timestamp or snapshot key would.
func (r *Repo) PublishWith(p PublishOpts) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publish(p)
}

func (r *Repo) publish(p PublishOpts) error {
	if p.NameSnapshot > 0 && p.NameTargets > 0 {
		return fmt.Errorf("repo: name a snapshot or targets, not both")
	}
	now := r.clk.Now().UTC()
	snapVersion := p.NameSnapshot
	if snapVersion == 0 {
		targetsVersion := p.NameTargets
		if targetsVersion == 0 {
			r.targets.Signed.Version++
			r.targets.Signed.Expires = now.Add(r.expiry[Targets])
			if err := sign(r.targets, r.signers(Targets)...); err != nil {
				return err
			}
			b, err := r.targets.ToBytes(true)
			if err != nil {
				return fmt.Errorf("repo: targets: %w", err)
			}
			targetsVersion = r.targets.Signed.Version
			if err := r.write(fmt.Sprintf("metadata/%d.targets.json", targetsVersion), b); err != nil {
				return err
			}
		}
		mf, err := r.metaFile(fmt.Sprintf("metadata/%d.targets.json", targetsVersion), targetsVersion)
		if err != nil {
			return err
		}
		r.snapshot.Signed.Meta = map[string]*metadata.MetaFiles{"targets.json": mf}
		r.snapshot.Signed.Version++
		r.snapshot.Signed.Expires = now.Add(r.expiry[Snapshot])
		if err := sign(r.snapshot, r.signers(Snapshot)...); err != nil {
			return err
		}
		b, err := r.snapshot.ToBytes(true)
		if err != nil {
			return fmt.Errorf("repo: snapshot: %w", err)
		}
		snapVersion = r.snapshot.Signed.Version
		if err := r.write(fmt.Sprintf("metadata/%d.snapshot.json", snapVersion), b); err != nil {
			return err
		}
	}
	mf, err := r.metaFile(fmt.Sprintf("metadata/%d.snapshot.json", snapVersion), snapVersion)
	if err != nil {
		return err
	}
	r.timestamp.Signed.Meta = map[string]*metadata.MetaFiles{"snapshot.json": mf}
	r.timestamp.Signed.Version++
	r.timestamp.Signed.Expires = now.Add(r.expiry[Timestamp])
	if err := sign(r.timestamp, r.signers(Timestamp)...); err != nil {
		return err
	}
	b, err := r.timestamp.ToBytes(true)
	if err != nil {
		return fmt.Errorf("repo: timestamp: %w", err)
	}
	if err := r.write("metadata/timestamp.json", b); err != nil {
		return err
	}
	r.log.Info("published", "timestamp", r.timestamp.Signed.Version, "snapshot", snapVersion,
		"targets", r.targets.Signed.Version, "files", len(r.targets.Signed.Targets))
	return nil
}

// metaFile describes the metadata file rel of the given version for its
// parent: version, and length and sha256 unless OmitMetaHashes.
func (r *Repo) metaFile(rel string, version int64) (*metadata.MetaFiles, error) {
	mf := metadata.MetaFile(version)
	if r.o.OmitMetaHashes {
		mf.Hashes = nil
		return mf, nil
	}
	b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	tf, err := metadata.TargetFile().FromBytes(rel, b, "sha256")
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	mf.Length = tf.Length
	mf.Hashes = tf.Hashes
	return mf, nil
}

// RotateKeys writes a new root version with fresh keys for rot.Roles
// (root only when empty), signed by the old root keys (unless
// rot.WithoutOldKeys) and the new ones. When keys of other roles changed,
// it publishes, so their metadata is signed by the new keys.
func (r *Repo) RotateKeys(rot Rotation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := rot.Roles
	if len(rs) == 0 {
		rs = []string{Root}
	}
	for _, role := range rs {
		if _, ok := r.root.Signed.Roles[role]; !ok {
			return fmt.Errorf("repo: no role %q", role)
		}
	}
	for role := range rot.Threshold {
		if _, ok := r.root.Signed.Roles[role]; !ok {
			return fmt.Errorf("repo: no role %q", role)
		}
	}
	old := r.signers(Root)
	if rot.WithoutOldKeys {
		old = nil
	}
	for _, role := range rs {
		n := len(r.keys[role])
		for _, k := range r.keys[role] {
			pub, err := metadata.KeyFromPublicKey(k.Public())
			if err != nil {
				return fmt.Errorf("repo: %w", err)
			}
			id, err := pub.ID()
			if err != nil {
				return fmt.Errorf("repo: %w", err)
			}
			if err := r.root.Signed.RevokeKey(id, role); err != nil {
				return fmt.Errorf("repo: revoking a %s key: %w", role, err)
			}
		}
		r.keys[role] = nil
		for range n {
			if err := r.addKey(role); err != nil {
				return err
			}
		}
	}
	for role, th := range rot.Threshold {
		th = max(1, th)
		for len(r.keys[role]) < th {
			if err := r.addKey(role); err != nil {
				return err
			}
		}
		r.root.Signed.Roles[role].Threshold = th
	}
	r.root.Signed.Version++
	r.root.Signed.Expires = r.clk.Now().UTC().Add(r.expiry[Root])
	if err := r.writeRoot(old); err != nil {
		return err
	}
	for _, role := range rs {
		if role != Root {
			return r.publish(PublishOpts{})
		}
	}
	return nil
}

// SetExpiry sets how long role's metadata signed from now on is valid
// (negative: it expired before it was signed, a frozen repository).
func (r *Repo) SetExpiry(role string, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.root.Signed.Roles[role]; !ok {
		return fmt.Errorf("repo: no role %q", role)
	}
	r.expiry[role] = d
	return nil
}

// SignOnly makes only the first n keys of role sign its metadata from now
// on (n < 0: all of them again), to test thresholds.
func (r *Repo) SignOnly(role string, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.root.Signed.Roles[role]; !ok {
		return fmt.Errorf("repo: no role %q", role)
	}
	r.signOnly[role] = n
	return nil
}

// SignForeign makes a key that root does not name sign role's metadata
// from now on, in place of the role's keys (on false: the role's keys
// again).
func (r *Repo) SignForeign(role string, on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.root.Signed.Roles[role]; !ok {
		return fmt.Errorf("repo: no role %q", role)
	}
	r.signFgn[role] = on
	return nil
}

// RootJSON is the newest root.json: what a terminal built now ships with
// as its pinned root.
func (r *Repo) RootJSON() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := r.root.ToBytes(true)
	if err != nil {
		return nil
	}
	return b
}

// Version is the newest version of role's metadata.
func (r *Repo) Version(role string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch role {
	case Root:
		return r.root.Signed.Version
	case Targets:
		return r.targets.Signed.Version
	case Snapshot:
		return r.snapshot.Signed.Version
	case Timestamp:
		return r.timestamp.Signed.Version
	}
	return 0
}

// File is the repository's file at URL path p ("/metadata/timestamp.json"),
// as written (Tamper does not change it).
func (r *Repo) File(p string) ([]byte, error) {
	rel, ok := relPath(p)
	if !ok {
		return nil, fmt.Errorf("repo: %q is not a repository path", p)
	}
	b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("repo: %w", err)
	}
	return b, nil
}

// relPath maps a URL path to a path under the repository directory: only
// clean paths under /metadata/ and /targets/.
func relPath(p string) (string, bool) {
	if !strings.HasPrefix(p, "/metadata/") && !strings.HasPrefix(p, "/targets/") {
		return "", false
	}
	if path.Clean(p) != p || strings.Contains(p, "\\") || strings.Contains(p, "/.") {
		return "", false
	}
	return p[1:], true
}
