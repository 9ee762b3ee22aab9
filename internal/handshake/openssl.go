package handshake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Peer is one side of an openssl handshake, as PEM files: its certificate,
// the chain it presents after it, its key, and the anchors it verifies the
// other side against. Name is the server's DNS name (the client checks it).
type Peer struct {
	Name                      string
	Cert, Chain, Key, Anchors string
}

// OpenSSL runs `openssl s_server` as the server (requiring and verifying a
// client certificate against its anchors) and `openssl s_client` as the
// client (verifying the server's certificate and name against its anchors,
// presenting its own), both verifying at the given time: the second TLS
// stack beside Handshake's crypto/tls. It returns nil when both sides
// completed the handshake and exchanged data; an error naming what each
// side printed otherwise.
func OpenSSL(server, client Peer, at time.Time) error {
	// A bound for a wedged process, not an assertion: a loopback handshake
	// takes milliseconds.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	attime := fmt.Sprint(at.Unix())
	srv := exec.CommandContext(ctx, "openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-rev",
		"-cert", server.Cert, "-cert_chain", server.Chain, "-key", server.Key,
		"-CAfile", server.Anchors, "-Verify", "4", "-verify_return_error", "-attime", attime)
	pr, pw := io.Pipe()
	srv.Stdout, srv.Stderr = pw, pw
	if err := srv.Start(); err != nil {
		return fmt.Errorf("openssl s_server: %w (is openssl installed?)", err)
	}
	port := make(chan string, 1)
	serverOut := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			all.WriteString(line + "\n")
			if p, ok := strings.CutPrefix(line, "ACCEPT 127.0.0.1:"); ok {
				port <- p
			}
		}
		close(port)
		serverOut <- all.String()
	}()
	p, ok := <-port
	if !ok {
		_ = srv.Wait()
		pw.Close()
		return errors.New("openssl s_server did not listen:\n" + <-serverOut)
	}
	cl := exec.CommandContext(ctx, "openssl", "s_client", "-connect", "127.0.0.1:"+p, "-quiet", "-ign_eof",
		"-servername", server.Name, "-verify_hostname", server.Name, "-verify_return_error", "-attime", attime,
		"-CAfile", client.Anchors, "-cert", client.Cert, "-cert_chain", client.Chain, "-key", client.Key)
	cl.Stdin = strings.NewReader("ping\nCLOSE\n")
	clientOut, clientErr := cl.CombinedOutput()
	_ = srv.Wait()
	pw.Close()
	sOut := <-serverOut
	// s_server -rev answers each line reversed: "gnip" proves the client's
	// data crossed the handshake both ways.
	if clientErr != nil || !strings.Contains(string(clientOut), "gnip") || !strings.Contains(sOut, "CONNECTION ESTABLISHED") {
		return fmt.Errorf("client (%v):\n%s\nserver:\n%s", clientErr, clientOut, sOut)
	}
	return nil
}
