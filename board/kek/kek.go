// Package kek supplies the device key-encryption key (KEK) that the key
// store wraps every key under, from the source the board profile names:
//
//   - "file": a 0600 file of 32 random bytes in the data directory (the
//     simulated board; keystore.LoadOrCreateKEKFile).
//   - "tpm": a 32-byte key sealed by the board's TPM 2.0. The sealed object
//     (its public and private parts, the private part encrypted by the TPM)
//     is kept in the data directory; it is useless without the TPM that made
//     it, so copying the storage (an SD card) does not copy the KEK.
//
// # The TPM source
//
// On first use the source asks the TPM for 32 random bytes and XORs them
// with 32 bytes from Opts.Rand (crypto/rand by default): the KEK is as good
// as the better of the two generators, so neither a weak kernel pool early
// at boot nor a faulty TPM generator alone weakens it. It seals them as a
// keyed-hash data object (fixedTPM, fixedParent, noDA, empty auth value)
// under the TCG reference ECC P-256 storage primary key of the owner
// hierarchy, which the TPM re-derives from its owner seed on every start,
// so nothing has to be kept in TPM NV. The key travels to and from the TPM
// only inside a session salted to that primary key with AES-CFB parameter
// encryption, so it is not readable on the bus. The sealed object is
// unsealed once before it is written, with the name of the primary key,
// to the file kek.tpm (0600, written once, never replaced). Later starts
// re-derive the primary key, check its name against the recorded one
// (ErrTPMMismatch: another TPM, or a cleared owner hierarchy), load and
// unseal (ErrSealedBlob: the TPM refuses the object).
//
// The sealed KEK is not bound to PCR values. The boards posd supports have
// no measured boot (the Raspberry Pi firmware extends no PCRs), so such a
// policy would bind to constants; and on a board that measures its boot, a
// firmware update would change the PCRs and lose the KEK, and with it every
// key in the store, unless the update resealed it first. The protection is
// therefore against copying the storage, not against root on the running
// device, which can unseal as posd does. The owner hierarchy must have an
// empty authorization (the TCG default); a TPM whose owner hierarchy has a
// password refuses (ErrTPM).
//
// # Fallback
//
// A TPM profile may allow the file as a fallback ("fallback_file": true).
// It is used, with a warning naming the reason, only when the TPM device
// does not exist and no sealed KEK is in the data directory. A TPM that
// exists but fails is never answered with the fallback (ErrTPM): that
// would hide an attack or a fault. A sealed KEK without its TPM is
// ErrTPMAbsent; a fallback file when the TPM is back is ErrConflict. In no
// case does this package make a second KEK next to an existing one.
//
// # Ownership
//
// Source.KEK returns a fresh 32-byte slice that the caller owns: copy it
// into the key store's KEK (keystore.NewStaticKEK copies) and clear it.
package kek

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/google/go-tpm/tpm2/transport"

	"posd/crypto/keystore"
)

// Size is the length of the KEK in bytes (an AES-256 key).
const Size = keystore.KEKSize

// File names in the data directory.
const (
	FileName   = "kek"     // the 0600 KEK file (file source and fallback)
	SealedName = "kek.tpm" // the TPM-sealed KEK
)

// Source kinds of a Spec.
const (
	SourceFile = "file"
	SourceTPM  = "tpm"
)

// Source supplies the device KEK. KEK returns a new 32-byte slice on every
// call, owned by the caller, who clears it once the key store has copied
// it; every call returns the same key.
type Source interface {
	KEK(ctx context.Context) ([]byte, error)
}

// Spec is a board profile's choice of KEK source, as data:
//
//	"kek": {"source": "tpm", "device": "/dev/tpmrm0", "fallback_file": true}
//	"kek": {"source": "file"}
type Spec struct {
	Source string `json:"source"`           // "file" or "tpm"
	Device string `json:"device,omitempty"` // tpm: the TPM character device
	// FallbackFile (tpm): use the KEK file when the TPM device does not
	// exist. Logged at warn; never used when the TPM exists but fails.
	FallbackFile bool `json:"fallback_file,omitempty"`
}

// Validate reports ErrSpec for an unknown source or a TPM without device.
func (s Spec) Validate() error {
	switch s.Source {
	case SourceFile:
		return nil
	case SourceTPM:
		if s.Device == "" {
			return fmt.Errorf("%w: source %q needs a device", ErrSpec, s.Source)
		}
		return nil
	case "":
		return fmt.Errorf("%w: no source", ErrSpec)
	default:
		return fmt.Errorf("%w: unknown source %q (want %q or %q)", ErrSpec, s.Source, SourceFile, SourceTPM)
	}
}

// OpenFunc opens a connection to the TPM at device. It returns an error
// satisfying errors.Is(err, fs.ErrNotExist) when there is no such device.
type OpenFunc func(ctx context.Context, device string) (transport.TPMCloser, error)

// Opts configures the sources New builds.
type Opts struct {
	// DataDir holds the KEK file and the sealed KEK.
	DataDir string
	// Logger: default discard.
	Logger *slog.Logger
	// Rand: default crypto/rand.Reader.
	Rand io.Reader
	// OpenTPM: default opens the character device (OpenDevice).
	OpenTPM OpenFunc
}

// New returns the KEK source spec names, keeping its files in o.DataDir.
func New(spec Spec, o Opts) (Source, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if o.DataDir == "" {
		return nil, fmt.Errorf("%w: no data directory", ErrSpec)
	}
	file := &File{Path: filepath.Join(o.DataDir, FileName), Rand: o.Rand, Logger: o.Logger}
	if spec.Source == SourceFile {
		return file, nil
	}
	return &TPM{
		Device:     spec.Device,
		SealedPath: filepath.Join(o.DataDir, SealedName),
		File:       file,
		Fallback:   spec.FallbackFile,
		Rand:       o.Rand,
		Open:       o.OpenTPM,
		Logger:     o.Logger,
	}, nil
}

// File is the KEK in a 0600 file of 32 bytes, created from Rand when it
// does not exist (keystore.LoadOrCreateKEKFile).
type File struct {
	Path   string
	Rand   io.Reader    // default crypto/rand.Reader
	Logger *slog.Logger // default discard
}

// KEK reads (or creates) the file; the caller owns and clears the result.
func (f *File) KEK(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rnd := f.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	k, err := keystore.LoadOrCreateKEKFile(f.Path, rnd)
	if err != nil {
		return nil, fmt.Errorf("kek: file: %w", err)
	}
	out := make([]byte, Size)
	copy(out, k.Key())
	if w, ok := k.(interface{ Wipe() }); ok {
		w.Wipe()
	}
	logger(f.Logger).Info("device KEK from file", "file", f.Path)
	return out, nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
