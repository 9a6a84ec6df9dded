package kek

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// TPM is the KEK sealed by a TPM 2.0 (see the package documentation).
type TPM struct {
	// Device is the TPM character device, e.g. /dev/tpmrm0 (the kernel's
	// resource manager, which flushes what a crashed posd left loaded).
	Device string
	// SealedPath is the sealed KEK file (kek.tpm in the data directory).
	SealedPath string
	// File is the KEK file of the data directory: the fallback when
	// Fallback is set, and in every case a KEK the TPM must not replace.
	File *File
	// Fallback allows File when Device does not exist.
	Fallback bool
	// Rand is mixed into the TPM's random bytes; default crypto/rand.
	Rand io.Reader
	// Open connects to the TPM; default OpenDevice.
	Open OpenFunc
	// Logger: default discard.
	Logger *slog.Logger
}

// OpenDevice opens a TPM character device (go-tpm's linuxtpm transport).
// A device that does not exist gives an error satisfying
// errors.Is(err, fs.ErrNotExist).
func OpenDevice(_ context.Context, device string) (transport.TPMCloser, error) {
	return linuxtpm.Open(device)
}

// KEK unseals the KEK, sealing a new one on first use, or falls back to
// the file under the rules of the package documentation. The caller owns
// and clears the result.
func (s *TPM) KEK(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log := logger(s.Logger)
	sealed, err := s.readSealed()
	if err != nil {
		return nil, err
	}
	open := s.Open
	if open == nil {
		open = OpenDevice
	}
	t, err := open(ctx, s.Device)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: opening %s: %w (a TPM that is present but fails is never replaced by the KEK file)", ErrTPM, s.Device, err)
		}
		switch {
		case sealed != nil:
			return nil, fmt.Errorf("%w: %s does not exist, but the KEK is sealed by a TPM (%s); %s", ErrTPMAbsent, s.Device, s.SealedPath, orphan)
		case !s.Fallback || s.File == nil:
			return nil, fmt.Errorf("%w: %w (the board profile allows no fallback KEK file)", ErrTPMAbsent, err)
		}
		log.Warn("no TPM: the device KEK comes from the fallback file, which anyone who copies the storage can read",
			"device", s.Device, "file", s.File.Path, "reason", err.Error())
		return s.File.KEK(ctx)
	}
	// A blocked read or write on the device ends when ctx does.
	stop := context.AfterFunc(ctx, func() { t.Close() })
	defer func() {
		stop()
		t.Close()
	}()
	c := &ctxTPM{ctx: ctx, t: t}
	if sealed != nil {
		key, err := s.unseal(c, *sealed)
		if err != nil {
			return nil, err
		}
		log.Info("device KEK unsealed by the TPM", "device", s.Device, "file", s.SealedPath)
		return key, nil
	}
	if s.File != nil {
		switch _, err := os.Lstat(s.File.Path); {
		case err == nil:
			return nil, fmt.Errorf("%w: %s holds a KEK file and there is no sealed KEK (%s): the key store is under that file's KEK; %s",
				ErrConflict, s.File.Path, s.SealedPath, orphan)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("kek: %w", err)
		}
	}
	key, err := s.seal(c)
	if err != nil {
		return nil, err
	}
	log.Info("device KEK generated and sealed by the TPM", "device", s.Device, "file", s.SealedPath)
	return key, nil
}

// readSealed reads and parses the sealed KEK file; nil when there is none.
func (s *TPM) readSealed() (*blob, error) {
	fi, err := os.Lstat(s.SealedPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kek: sealed KEK: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file; %s", ErrSealedBlob, s.SealedPath, orphan)
	}
	f, err := os.Open(s.SealedPath)
	if err != nil {
		return nil, fmt.Errorf("kek: sealed KEK: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBlob+1))
	if err != nil {
		return nil, fmt.Errorf("kek: sealed KEK: %w", err)
	}
	b, err := parseBlob(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w; %s", ErrSealedBlob, s.SealedPath, err, orphan)
	}
	return &b, nil
}

// sealedTemplate is the public area of the sealed KEK: a keyed-hash data
// object that cannot leave this TPM or its parent, used with its (empty)
// auth value, exempt from dictionary-attack lockout.
var sealedTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgKeyedHash,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM:     true,
		FixedParent:  true,
		UserWithAuth: true,
		NoDA:         true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
		Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
	}),
}

// srk is the storage primary key of the owner hierarchy, loaded.
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	pub    tpm2.TPMTPublic
}

func (k srk) auth(s tpm2.Session) tpm2.AuthHandle {
	return tpm2.AuthHandle{Handle: k.handle, Name: k.name, Auth: s}
}

// session is a one-shot HMAC session salted to the primary key that
// encrypts the first command (in) or response (out) parameter.
func (k srk) session(dir tpm2.AuthOption) tpm2.Session {
	return tpm2.HMAC(tpm2.TPMAlgSHA256, 16, dir, tpm2.Salted(k.handle, k.pub))
}

var (
	encryptIn  = tpm2.AESEncryption(128, tpm2.EncryptIn)
	encryptOut = tpm2.AESEncryption(128, tpm2.EncryptOut)
)

// createSRK derives the owner hierarchy's ECC P-256 storage primary key
// from the TCG reference template; the same TPM and owner seed give the
// same key, and so the same name, every time.
func createSRK(t transport.TPM) (srk, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		return srk{}, fmt.Errorf("%w: creating the storage primary key: %w", ErrTPM, err)
	}
	k := srk{handle: rsp.ObjectHandle, name: rsp.Name}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(t, k.handle)
		return srk{}, fmt.Errorf("%w: storage primary key: %w", ErrTPM, err)
	}
	k.pub = *pub
	return k, nil
}

// flush unloads a transient object. Its error is dropped: the resource
// manager of /dev/tpmrm0 flushes what the connection left when it closes.
func flush(t transport.TPM, h tpm2.TPMHandle) {
	tpm2.FlushContext{FlushHandle: h}.Execute(t)
}

// random returns Size bytes: Rand XOR the TPM's generator.
func (s *TPM) random(t transport.TPM) ([]byte, error) {
	rnd := s.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	key := make([]byte, Size)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, fmt.Errorf("kek: random source: %w", err)
	}
	for off := 0; off < Size; {
		rsp, err := tpm2.GetRandom{BytesRequested: uint16(Size - off)}.Execute(t)
		if err != nil {
			clear(key)
			return nil, fmt.Errorf("%w: random bytes: %w", ErrTPM, err)
		}
		got := rsp.RandomBytes.Buffer
		if len(got) == 0 {
			clear(key)
			return nil, fmt.Errorf("%w: random bytes: empty answer", ErrTPM)
		}
		off += subtle.XORBytes(key[off:], key[off:], got)
		clear(got)
	}
	return key, nil
}

// seal makes a new KEK, seals it, checks that it unseals, and writes the
// sealed KEK file (never replacing one).
func (s *TPM) seal(t transport.TPM) ([]byte, error) {
	k, err := createSRK(t)
	if err != nil {
		return nil, err
	}
	defer flush(t, k.handle)
	key, err := s.random(t)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			clear(key)
		}
	}()
	rsp, err := tpm2.Create{
		ParentHandle: k.auth(k.session(encryptIn)),
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: key}),
		}},
		InPublic: tpm2.New2B(sealedTemplate),
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("%w: sealing the KEK: %w", ErrTPM, err)
	}
	b := blob{
		srkName: append([]byte(nil), k.name.Buffer...),
		public:  append([]byte(nil), rsp.OutPublic.Bytes()...),
		private: append([]byte(nil), rsp.OutPrivate.Buffer...),
	}
	back, err := unsealUnder(t, k, b)
	if err != nil {
		return nil, fmt.Errorf("%w: the KEK just sealed does not unseal: %w", ErrTPM, err)
	}
	same := subtle.ConstantTimeCompare(back, key) == 1
	clear(back)
	if !same {
		return nil, fmt.Errorf("%w: the KEK just sealed unseals to other bytes", ErrTPM)
	}
	data, err := b.marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: sealed KEK: %w", ErrTPM, err)
	}
	if err := writeOnce(s.SealedPath, data); err != nil {
		return nil, err
	}
	ok = true
	return key, nil
}

// unseal checks that the TPM is the one that sealed b and unseals it.
func (s *TPM) unseal(t transport.TPM, b blob) ([]byte, error) {
	k, err := createSRK(t)
	if err != nil {
		return nil, err
	}
	defer flush(t, k.handle)
	if subtle.ConstantTimeCompare(k.name.Buffer, b.srkName) != 1 {
		return nil, fmt.Errorf("%w: %s was sealed under another storage key (another TPM, a cleared owner hierarchy, or an altered file); %s",
			ErrTPMMismatch, s.SealedPath, orphan)
	}
	key, err := unsealUnder(t, k, b)
	if err != nil {
		if errors.Is(err, ErrSealedBlob) {
			return nil, fmt.Errorf("%w (%s); %s", err, s.SealedPath, orphan)
		}
		return nil, err
	}
	return key, nil
}

// unsealUnder loads b under k and unseals it. An object the TPM refuses
// (integrity, size, type, attributes) is ErrSealedBlob; other failures
// are ErrTPM.
func unsealUnder(t transport.TPM, k srk, b blob) ([]byte, error) {
	lrsp, err := tpm2.Load{
		ParentHandle: k.auth(tpm2.PasswordAuth(nil)),
		InPrivate:    tpm2.TPM2BPrivate{Buffer: b.private},
		InPublic:     tpm2.BytesAs2B[tpm2.TPMTPublic](b.public),
	}.Execute(t)
	if err != nil {
		if refusedObject(err, false) {
			return nil, fmt.Errorf("%w: the TPM refuses to load it: %w", ErrSealedBlob, err)
		}
		return nil, fmt.Errorf("%w: loading the sealed KEK: %w", ErrTPM, err)
	}
	defer flush(t, lrsp.ObjectHandle)
	ursp, err := tpm2.Unseal{
		ItemHandle: tpm2.AuthHandle{Handle: lrsp.ObjectHandle, Name: lrsp.Name, Auth: k.session(encryptOut)},
	}.Execute(t)
	if err != nil {
		if refusedObject(err, true) {
			return nil, fmt.Errorf("%w: the TPM refuses to unseal it: %w", ErrSealedBlob, err)
		}
		return nil, fmt.Errorf("%w: unsealing the KEK: %w", ErrTPM, err)
	}
	out := ursp.OutData.Buffer
	if len(out) != Size {
		clear(out)
		return nil, fmt.Errorf("%w: it unseals to %d bytes, not a %d-byte KEK", ErrSealedBlob, len(out), Size)
	}
	key := make([]byte, Size)
	copy(key, out)
	clear(out)
	return key, nil
}

// refusedObject tells whether a TPM error is about the object given to the
// command: a parameter error (Load's public and private parts) or, with
// handle set, an error on the command's handle (Unseal's object).
func refusedObject(err error, handle bool) bool {
	var f tpm2.TPMFmt1Error
	if !errors.As(err, &f) {
		return false
	}
	if p, _ := f.Parameter(); p {
		return true
	}
	h, _ := f.Handle()
	return handle && h
}

// writeOnce writes data to path (0600, fsync) through a temporary file
// linked into place, so an existing file is never replaced.
func writeOnce(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("kek: writing the sealed KEK: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("kek: writing the sealed KEK: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s appeared while this KEK was sealed; %s", ErrConflict, path, orphan)
		}
		return fmt.Errorf("kek: writing the sealed KEK: %w", err)
	}
	d, err := os.Open(dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		return fmt.Errorf("kek: writing the sealed KEK: %w", err)
	}
	return nil
}

// ctxTPM ends its commands when ctx ends.
type ctxTPM struct {
	ctx context.Context
	t   transport.TPM
}

func (c *ctxTPM) Send(cmd []byte) ([]byte, error) {
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	rsp, err := c.t.Send(cmd)
	if err != nil && c.ctx.Err() != nil {
		return nil, c.ctx.Err()
	}
	return rsp, err
}
