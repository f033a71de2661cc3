// A minimal mTLS proxy on Go's crypto/tls, the engine ghostunnel is built on: the strongest simple peer the
// benchmarks compare Sigil's sidecar with. Standard library only, built at bench time by bench/lib/go-client-build.ts.
//
//	inbound:  accepts mTLS (client certificate required and verified against -ca), forwards plain TCP to -forward
//	outbound: accepts plain TCP, originates mTLS to -forward with -cert/-key, verifies the server against -ca (and
//	          its URI SAN against -expect); -session-cache N keeps N TLS sessions per upstream and offers them
//
// It prints {"type":"ready","host":...,"port":N} on stdout once it listens, then answers every line on stdin with
// {"type":"counts","handshakes":N,"resumed":M}: TLS handshakes completed on its side and how many resumed a session.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const handshakeTimeout = 10 * time.Second

type counters struct {
	handshakes atomic.Int64
	resumed    atomic.Int64
}

func (c *counters) count(state tls.ConnectionState) {
	c.handshakes.Add(1)
	if state.DidResume {
		c.resumed.Add(1)
	}
}

func loadBundle(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", path)
	}
	return roots, nil
}

// verifyServer checks the server's chain against the bundle and, when expect is set, its URI SAN: SVIDs name a
// SPIFFE ID, not a host, so Go's host-name check is replaced by this one. Go calls it on full handshakes only; a
// resumed session carries the identity verified when it was established.
func verifyServer(roots *x509.CertPool, expect string) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("the server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, der := range raw {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		intermediates := x509.NewCertPool()
		for _, c := range certs[1:] {
			intermediates.AddCert(c)
		}
		opts := x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := certs[0].Verify(opts); err != nil {
			return err
		}
		if expect == "" {
			return nil
		}
		for _, uri := range certs[0].URIs {
			if uri.String() == expect {
				return nil
			}
		}
		return fmt.Errorf("the server is not %s", expect)
	}
}

// pipe copies both ways, passing each side's end on as a half-close, and closes both once both directions ended.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	copyHalf := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	wg.Add(2)
	go copyHalf(a, b)
	go copyHalf(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

func serveInbound(conn net.Conn, config *tls.Config, forward string, c *counters) {
	tlsConn := tls.Server(conn, config)
	_ = tlsConn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tlsConn.Handshake(); err != nil {
		tlsConn.Close()
		return
	}
	_ = tlsConn.SetDeadline(time.Time{})
	c.count(tlsConn.ConnectionState())
	upstream, err := net.DialTimeout("tcp", forward, handshakeTimeout)
	if err != nil {
		tlsConn.Close()
		return
	}
	pipe(tlsConn, upstream)
}

func serveOutbound(conn net.Conn, config *tls.Config, forward string, c *counters) {
	dialer := &net.Dialer{Timeout: handshakeTimeout}
	upstream, err := tls.DialWithDialer(dialer, "tcp", forward, config)
	if err != nil {
		conn.Close()
		return
	}
	c.count(upstream.ConnectionState())
	pipe(conn, upstream)
}

func main() {
	mode := flag.String("mode", "", "inbound or outbound")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	forward := flag.String("forward", "", "the app (inbound) or the upstream inbound proxy (outbound), host:port")
	certPath := flag.String("cert", "", "certificate chain (PEM, leaf first)")
	keyPath := flag.String("key", "", "private key (PEM)")
	caPath := flag.String("ca", "", "trust bundle (PEM)")
	expect := flag.String("expect", "", "outbound: the upstream's SPIFFE ID (URI SAN); empty accepts any the bundle signed")
	sessionCache := flag.Int("session-cache", 0, "outbound: TLS sessions kept per upstream and offered; 0 turns resumption off")
	flag.Parse()
	if err := run(*mode, *listen, *forward, *certPath, *keyPath, *caPath, *expect, *sessionCache); err != nil {
		fmt.Fprintf(os.Stderr, "go proxy: %v\n", err)
		_ = json.NewEncoder(os.Stdout).Encode(map[string]string{"type": "failed", "message": err.Error()})
		os.Exit(1)
	}
}

func run(mode, listen, forward, certPath, keyPath, caPath, expect string, sessionCache int) error {
	if forward == "" {
		return errors.New("-forward is required")
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return err
	}
	roots, err := loadBundle(caPath)
	if err != nil {
		return err
	}
	config := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}
	var serve func(net.Conn, *tls.Config, string, *counters)
	switch mode {
	case "inbound":
		config.ClientAuth = tls.RequireAndVerifyClientCert
		config.ClientCAs = roots
		serve = serveInbound
	case "outbound":
		config.InsecureSkipVerify = true
		config.VerifyPeerCertificate = verifyServer(roots, expect)
		if sessionCache > 0 {
			config.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCache)
		}
		serve = serveOutbound
	default:
		return fmt.Errorf("-mode must be inbound or outbound, got %q", mode)
	}
	listener, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	addr := listener.Addr().(*net.TCPAddr)
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]interface{}{"type": "ready", "host": addr.IP.String(), "port": addr.Port})
	c := &counters{}
	go func() {
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			_ = out.Encode(map[string]interface{}{"type": "counts", "handshakes": c.handshakes.Load(), "resumed": c.resumed.Load()})
		}
		// stdin closed: the harness is gone
		os.Exit(0)
	}()
	for {
		conn, err := listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go serve(conn, config, forward, c)
	}
}
