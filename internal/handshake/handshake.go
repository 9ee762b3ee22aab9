// Package handshake proves the product's promise with real TLS: it serves
// the leaves a phase renders from crypto/tls servers on loopback and
// connects clients configured from the trust objects a phase renders, with
// mutual TLS where the rotation has client certificates.
package handshake

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// Server is one TLS server configuration: a leaf and what it trusts for
// client certificates.
type Server struct {
	Name      string
	Cert      tls.Certificate
	ServerDNS string
	ClientCAs *x509.CertPool // nil: no client certificate asked
}

// Client is one TLS client configuration: what it trusts, and the
// certificate it presents (if any).
type Client struct {
	Name  string
	Roots *x509.CertPool
	Cert  *tls.Certificate
}

// timeout bounds every handshake; loopback handshakes take milliseconds.
const timeout = 5 * time.Second

// Handshake runs one full TLS handshake over loopback TCP between s and c
// at the given time, and returns the first side's error.
func Handshake(s Server, c Client, now time.Time) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	clock := func() time.Time { return now }
	serverCfg := &tls.Config{
		Certificates: []tls.Certificate{s.Cert},
		Time:         clock,
		MinVersion:   tls.VersionTLS12,
	}
	if s.ClientCAs != nil {
		serverCfg.ClientCAs = s.ClientCAs
		serverCfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	serverErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			serverErr <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(timeout))
		tc := tls.Server(conn, serverCfg)
		err = tc.Handshake()
		if err == nil {
			// Complete a round trip so both sides saw the other's Finished.
			buf := make([]byte, 4)
			if _, err = tc.Read(buf); err == nil {
				_, err = tc.Write(buf)
			}
		}
		serverErr <- err
	}()

	clientCfg := &tls.Config{
		RootCAs:    c.Roots,
		ServerName: s.ServerDNS,
		Time:       clock,
		MinVersion: tls.VersionTLS12,
	}
	if c.Cert != nil {
		clientCfg.Certificates = []tls.Certificate{*c.Cert}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := tls.Dialer{Config: clientCfg}
	conn, clientErr := d.DialContext(ctx, "tcp", ln.Addr().String())
	if clientErr == nil {
		_ = conn.SetDeadline(time.Now().Add(timeout))
		if _, clientErr = conn.Write([]byte("ping")); clientErr == nil {
			_, clientErr = conn.Read(make([]byte, 4))
		}
		conn.Close()
	}
	sErr := <-serverErr
	switch {
	case clientErr != nil && sErr != nil:
		return fmt.Errorf("client: %v; server: %w", clientErr, sErr)
	case clientErr != nil:
		return fmt.Errorf("client: %w", clientErr)
	case sErr != nil:
		return fmt.Errorf("server: %w", sErr)
	}
	return nil
}

// ErrNoPairs is returned when a matrix has nothing to try.
var ErrNoPairs = errors.New("no server/client pairs")
