// Package keyring holds amtrack's keys for evidence at rest: the
// key-encryption key (KEK) that wraps one data key per access method, and
// the sealing of payloads under a data key. Everything is Go's standard
// crypto: AES-256-GCM with random 96-bit nonces, keys from crypto/rand.
//
// The KEK lives outside the database (a key file beside it, mode 0600, or
// one the operator supplies), so a copy of the database alone reveals no
// PIN code. Destroying a data key (crypto-shredding) makes what it sealed
// unrecoverable, whatever copies of the sealed bytes remain.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/amtrack/amtrack/domain"
)

// KeySize is the size of every key, KEK and data keys: AES-256.
const KeySize = 32

// Overhead is how many bytes Seal adds to a plaintext: the nonce and the
// authentication tag.
const Overhead = 12 + 16

// filePrefix starts a key file's one line, naming its format.
const filePrefix = "amtrack-kek-v1:"

// wrapAAD binds a wrapped data key to its purpose, so that a sealed payload
// can never be taken for a wrapped key or the other way round.
var wrapAAD = []byte("amtrack data key v1")

// Keyring is a KEK, ready to wrap and unwrap data keys. It is safe for
// concurrent use.
type Keyring struct {
	aead cipher.AEAD
	id   string
}

// New returns the keyring of a 32-byte KEK. Errors: invalid_input.
func New(kek []byte) (*Keyring, error) {
	if len(kek) != KeySize {
		return nil, domain.Errorf(domain.EInvalid, "the key-encryption key is %d bytes, want %d", len(kek), KeySize)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("amtrack key id v1:"), kek...))
	return &Keyring{aead: aead, id: hex.EncodeToString(sum[:8])}, nil
}

// ID names the KEK without revealing it (the first 8 bytes of a SHA-256 of
// it, in hex): a database records the id of the key that wraps its data
// keys, so that opening it with another key says so instead of failing on
// every code.
func (k *Keyring) ID() string { return k.id }

// Parse reads a KEK written as base64 (standard encoding), with or without
// the key file's prefix. Errors: invalid_input, never echoing the key.
func Parse(text string) (*Keyring, error) {
	text = strings.TrimPrefix(strings.TrimSpace(text), filePrefix)
	kek, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, domain.Errorf(domain.EInvalid, "the key is not base64: write 32 random bytes in base64, or let amtrack create the key file")
	}
	return New(kek)
}

// Generate returns a new random KEK.
func Generate() (*Keyring, []byte, error) {
	kek := make([]byte, KeySize)
	if _, err := rand.Read(kek); err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	k, err := New(kek)
	return k, kek, err
}

// Load reads the key file at path. It refuses a file that others can read
// or write (mode wider than 0600), as ssh does with private keys. Errors:
// not_found when there is no file, invalid_input for a bad one.
func Load(path string) (*Keyring, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, domain.Errorf(domain.ENotFound, "no key file at %s", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if st.IsDir() {
		return nil, domain.Errorf(domain.EInvalid, "the key file %s is a directory", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, domain.Errorf(domain.EInvalid, "the key file %s can be read by others (mode %04o): run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k, err := Parse(string(b))
	if err != nil {
		return nil, domain.Errorf(domain.EInvalid, "the key file %s is damaged: %s", path, domain.ErrorMessage(err))
	}
	return k, nil
}

// Create writes a new random KEK to a new key file at path, mode 0600, and
// fsyncs it and its directory before returning, so that no data key is
// ever wrapped by a key that a crash could lose. It never overwrites a
// file. Errors: invalid_input when path exists.
func Create(path string) (*Keyring, error) {
	k, kek, err := Generate()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, domain.Errorf(domain.EInvalid, "%s already exists: not overwriting a key file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	_, err = f.WriteString(filePrefix + base64.StdEncoding.EncodeToString(kek) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create key file: %w", err)
	}
	return k, nil
}

// LoadOrCreate loads the key file at path, or creates it when there is
// none; created says which.
func LoadOrCreate(path string) (k *Keyring, created bool, err error) {
	k, err = Load(path)
	if domain.ErrorCode(err) != domain.ENotFound {
		return k, false, err
	}
	k, err = Create(path)
	if domain.ErrorCode(err) == domain.EInvalid { // created meanwhile by another process
		k, err = Load(path)
		return k, false, err
	}
	return k, err == nil, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// NewDataKey returns a new random data key and its form wrapped by the KEK,
// which is what the database stores.
func (k *Keyring) NewDataKey() (dek, wrapped []byte, err error) {
	dek = make([]byte, KeySize)
	if _, err := rand.Read(dek); err != nil {
		return nil, nil, fmt.Errorf("generate data key: %w", err)
	}
	return dek, seal(k.aead, dek, wrapAAD), nil
}

// Unwrap returns the data key wrapped in wrapped. Errors: invalid_input when
// this KEK did not wrap it (another key file) or it was altered.
func (k *Keyring) Unwrap(wrapped []byte) ([]byte, error) {
	dek, err := open(k.aead, wrapped, wrapAAD)
	if err != nil || len(dek) != KeySize {
		return nil, domain.Errorf(domain.EInvalid, "a data key does not open with key %s: wrong key file, or the key was altered", k.id)
	}
	return dek, nil
}

// Rewrap returns wrapped, unwrapped by k and wrapped again by to: rotating
// the KEK touches only the wrapped data keys, never the sealed payloads.
func (k *Keyring) Rewrap(wrapped []byte, to *Keyring) ([]byte, error) {
	dek, err := k.Unwrap(wrapped)
	if err != nil {
		return nil, err
	}
	return seal(to.aead, dek, wrapAAD), nil
}

// Seal seals plaintext under the data key dek, bound to aad (say, the
// event's id, so that sealed bytes cannot be moved to another row).
func Seal(dek, plaintext, aad []byte) ([]byte, error) {
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	return seal(aead, plaintext, aad), nil
}

// Open opens what Seal sealed. Errors: invalid_input when dek or aad is not
// the one it was sealed with, or the bytes were altered.
func Open(dek, sealed, aad []byte) ([]byte, error) {
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	plain, err := open(aead, sealed, aad)
	if err != nil {
		return nil, domain.Errorf(domain.EInvalid, "sealed bytes do not open: wrong data key, or they were altered")
	}
	return plain, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, domain.Errorf(domain.EInvalid, "a key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal is nonce || AES-GCM(plaintext), with a random nonce.
func seal(aead cipher.AEAD, plaintext, aad []byte) []byte {
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // crypto/rand does not fail on supported platforms
	}
	return aead.Seal(out, out, plaintext, aad)
}

func open(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, errors.New("too short")
	}
	return aead.Open(nil, sealed[:n], sealed[n:], aad)
}
