package keystore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// KEKSize is the length of the device KEK (AES-256).
const KEKSize = 32

// StaticKEK is a KEK held in memory, e.g. read from a file on the simulated
// board. Real boards supply their own KEK implementation.
type StaticKEK struct{ key []byte }

// NewStaticKEK copies a 32-byte key into a StaticKEK.
func NewStaticKEK(key []byte) (*StaticKEK, error) {
	if len(key) != KEKSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrKEK, len(key))
	}
	return &StaticKEK{key: append([]byte(nil), key...)}, nil
}

// Key returns the KEK bytes; callers must not modify them.
func (k *StaticKEK) Key() []byte { return k.key }

// Wipe zeroes the in-memory key; the KEK is unusable afterwards.
func (k *StaticKEK) Wipe() { clear(k.key) }

// LoadOrCreateKEKFile reads the 32-byte KEK from path, or creates the file
// (mode 0600, exclusive create, fsync) with 32 bytes from rnd when it does
// not exist. An existing file that is not a regular file, is readable or
// writable by group or others, or does not hold exactly 32 bytes is refused
// with ErrKEKFile.
func LoadOrCreateKEKFile(path string, rnd io.Reader) (KEK, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKEKFile(path, rnd)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: KEK file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrKEKFile, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v, want 0600", ErrKEKFile, path, fi.Mode().Perm())
	}
	if fi.Size() != KEKSize {
		return nil, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrKEKFile, path, fi.Size(), KEKSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: KEK file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, KEKSize+1)
	n, err := io.ReadFull(f, buf)
	if n != KEKSize || !errors.Is(err, io.ErrUnexpectedEOF) {
		clear(buf)
		return nil, fmt.Errorf("%w: %s changed while reading", ErrKEKFile, path)
	}
	k, err := NewStaticKEK(buf[:KEKSize])
	clear(buf)
	return k, err
}

func createKEKFile(path string, rnd io.Reader) (KEK, error) {
	if rnd == nil {
		return nil, fmt.Errorf("%w: no random source", ErrKEK)
	}
	key := make([]byte, KEKSize)
	defer clear(key)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, fmt.Errorf("%w: random source: %w", ErrKEK, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keystore: create KEK file: %w", err)
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("keystore: write KEK file: %w", err)
	}
	return NewStaticKEK(key)
}
