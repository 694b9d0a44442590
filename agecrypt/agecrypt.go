// Package agecrypt encrypts ngbak archives with age (filippo.io/age): to
// one or more X25519 recipients, or with a passphrase.
//
//	enc, err := agecrypt.New(recipients, identities)
//	m, err := ngbak.New(ngbak.Options{Storage: store, Encryption: enc})
//
// Create needs recipients; Verify, Restore and Import need identities. A
// wrong or missing key is ngbak.ErrKey, before anything is touched.
package agecrypt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// Encryption implements ngbak.Encryption with age.
type Encryption struct {
	recipients []age.Recipient
	identities []age.Identity
}

// New returns an Encryption that encrypts to recipients and decrypts with
// identities. Without recipients it encrypts to the X25519 identities' own
// public keys, so that the safety backup a Restore takes is encrypted to
// the key that opened the backup.
func New(recipients []age.Recipient, identities []age.Identity) (*Encryption, error) {
	if len(recipients) == 0 && len(identities) == 0 {
		return nil, errors.New("agecrypt: no recipients and no identities")
	}
	if len(recipients) == 0 {
		for _, id := range identities {
			if x, ok := id.(*age.X25519Identity); ok {
				recipients = append(recipients, x.Recipient())
			}
		}
	}
	return &Encryption{recipients: recipients, identities: identities}, nil
}

// MaxScryptWorkFactor is the largest scrypt work factor (log2 N) that
// Passphrase decrypts, and the one it encrypts with: age's default, about
// 256 MiB and a second. An archive from outside chooses its own work
// factor, and age accepts up to 22 (4 GiB, many seconds) for each attempt:
// an upload must not be able to ask for that.
const MaxScryptWorkFactor = 18

// Passphrase returns an Encryption that encrypts and decrypts with a
// passphrase (scrypt, work factor MaxScryptWorkFactor; an archive that
// asks for more is refused before the work is done).
func Passphrase(passphrase string) (*Encryption, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("agecrypt: %w", err)
	}
	r.SetWorkFactor(MaxScryptWorkFactor)
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("agecrypt: %w", err)
	}
	id.SetMaxWorkFactor(MaxScryptWorkFactor)
	return &Encryption{recipients: []age.Recipient{r}, identities: []age.Identity{id}}, nil
}

// ParseRecipients parses age public keys ("age1...").
func ParseRecipients(keys ...string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("agecrypt: recipient %q: %w", k, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// ReadIdentities reads an age identity file, as age-keygen writes it.
func ReadIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agecrypt: %w", err)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("agecrypt: %s: %w", path, err)
	}
	return ids, nil
}

// Name implements ngbak.Encryption.
func (e *Encryption) Name() string { return "age" }

// Encrypt implements ngbak.Encryption.
func (e *Encryption) Encrypt(w io.Writer) (io.WriteCloser, error) {
	if len(e.recipients) == 0 {
		return nil, errors.New("agecrypt: no recipients to encrypt to (a Restore's safety backup needs them too, or RestoreOptions.NoSafetyBackup)")
	}
	return age.Encrypt(w, e.recipients...)
}

// Decrypt implements ngbak.Encryption.
func (e *Encryption) Decrypt(r io.Reader) (io.Reader, error) {
	if len(e.identities) == 0 {
		return nil, errors.New("agecrypt: no identities to decrypt with")
	}
	return age.Decrypt(r, e.identities...)
}
