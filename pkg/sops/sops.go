// Package sops encrypts and decrypts key material with the real sops CLI.
//
// carousel shells out instead of linking sops: the library pulls in every
// cloud KMS SDK, and the CLI is what Flux, ksops and people already run, so
// what carousel writes is exactly what they read.
//
// Only the private-key value of a KeyPair is encrypted (encrypted_regex),
// so certificates stay readable in review, and the MAC covers only the
// encrypted values (mac_only_encrypted), so the function can copy the value
// and the sops metadata into a Secret with other keys, another name and
// another namespace, and the Secret still decrypts.
package sops

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/carousel-dev/carousel/pkg/atomicfile"
)

// BinaryEnv names the sops binary to use, overriding the search.
const BinaryEnv = "CAROUSEL_SOPS"

// Binary finds sops: $CAROUSEL_SOPS, then beside the running carousel
// binary (bin/ of a checkout), then PATH.
func Binary() (string, error) {
	if b := os.Getenv(BinaryEnv); b != "" {
		return b, nil
	}
	if exe, err := os.Executable(); err == nil {
		cand := filepath.Join(filepath.Dir(exe), "sops")
		if _, err := os.Stat(cand); err == nil {
			return cand, nil
		}
	}
	if p, err := exec.LookPath("sops"); err == nil {
		return p, nil
	}
	return "", errors.New("sops is not installed: install sops v3.9 or later (`make tools` puts a pinned one in bin/), set " + BinaryEnv + ", or pass --plaintext-keys for a throwaway demo")
}

// Encrypter encrypts KeyPair files.
type Encrypter struct {
	Bin string
	// Age recipients; when empty the nearest .sops.yaml's creation rules decide.
	Age []string
}

// ConfigFile returns the nearest .sops.yaml at or above dir, or "".
func ConfigFile(dir string) string {
	dir, _ = filepath.Abs(dir)
	for {
		for _, name := range []string{".sops.yaml", ".sops.yml"} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Encrypt encrypts the value of keyField in a YAML document that will be
// written to path. Nothing touches the disk in plaintext: the document goes
// through stdin and stdout.
func (e Encrypter) Encrypt(plain []byte, keyField, path string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	args := []string{"--encrypt", "--mac-only-encrypted",
		"--encrypted-regex", "^" + regexp.QuoteMeta(keyField) + "$",
		"--input-type", "yaml", "--output-type", "yaml"}
	dir := filepath.Dir(abs)
	if len(e.Age) > 0 {
		args = append(args, "--age", strings.Join(e.Age, ","))
		// Explicit recipients: run where no .sops.yaml can interfere.
		tmp, err := atomicfile.MkdirTemp("carousel-sops-")
		if err != nil {
			return nil, err
		}
		defer atomicfile.RemoveAll(tmp)
		dir = tmp
	} else {
		// Run from the nearest existing directory: the file's may not exist yet.
		for {
			if _, err := os.Stat(dir); err == nil {
				break
			}
			dir = filepath.Dir(dir)
		}
		if ConfigFile(dir) == "" {
			return nil, fmt.Errorf("no age recipients for %s: pass --age RECIPIENT, or add a .sops.yaml creation rule (see docs/secrets.md); --plaintext-keys writes keys unencrypted for throwaway demos", path)
		}
		args = append(args, "--filename-override", abs)
	}
	args = append(args, "/dev/stdin")
	out, err := run(e.Bin, dir, plain, nil, args...)
	if err != nil {
		return nil, fmt.Errorf("encrypting %s: %w", path, err)
	}
	return out, nil
}

// Decrypt decrypts a SOPS YAML document with the identities sops finds
// (SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt, ...).
func Decrypt(bin string, doc []byte) ([]byte, error) {
	out, err := run(bin, "", doc, nil, "--decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin")
	var exit *exec.ExitError
	if errors.As(err, &exit) && corruptCodes[exit.ExitCode()] {
		return nil, &CorruptError{err}
	}
	if err != nil {
		return nil, fmt.Errorf("decrypting: %w (is SOPS_AGE_KEY_FILE set to an identity of a recipient?)", err)
	}
	return out, nil
}

// corruptCodes are sops's exit codes for a document whose data key it
// recovered but whose values or MAC do not decrypt or verify (sops's
// cmd/sops/codes: ErrorDecryptingMac 24, ErrorDecryptingTree 25,
// MacMismatch 51, MacNotFound 52). A missing or wrong identity is another
// code (CouldNotRetrieveKey 128): the hint then is the identity, here it
// is the file.
var corruptCodes = map[int]bool{24: true, 25: true, 51: true, 52: true}

// CorruptError is a document sops could open with the identity but not
// decrypt: a value, or its MAC, was edited or truncated.
type CorruptError struct{ err error }

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the ciphertext does not decrypt (edited or truncated): %v", e.err)
}
func (e *CorruptError) Unwrap() error { return e.err }

func run(bin, dir string, stdin []byte, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// environ is the environment sops runs with, less a set but empty
// SOPS_AGE_KEY_CMD: sops v3.13 panics on it (slice bounds out of range)
// instead of ignoring it, and CI systems set unset secrets to "".
func environ() []string {
	var out []string
	for _, e := range os.Environ() {
		if e != "SOPS_AGE_KEY_CMD=" {
			out = append(out, e)
		}
	}
	return out
}
