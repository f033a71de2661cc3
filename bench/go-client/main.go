// The benchmark's load client: Go's crypto/tls costs a fraction of Node's per client handshake, so one client core
// can keep one server core busy. Standard library only, built at bench time by bench/lib/go-client.ts.
//
// Driven over stdin/stdout, one JSON object per line (the same requests as bench/handshake/load-worker.ts):
//
//	{"op":"start","id":1,"host":"127.0.0.1","port":8443,"mode":"full|resumed|requests|plain-requests|plain-connections","concurrency":16,"requestBytes":64}
//	{"op":"snapshot","id":2}   {"op":"stop","id":3}
//
// and answers {"type":"counts","id":N,"counts":{...}}. Counts are cumulative since start; request latencies are
// those completed since the previous snapshot, so two snapshots bracket a measured window.
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
	"sort"
	"strconv"
	"sync"
	"time"
)

type request struct {
	Op           string `json:"op"`
	ID           int    `json:"id"`
	Host         string `json:"host"`
	Port         int    `json:"port"`
	Mode         string `json:"mode"`
	Concurrency  int    `json:"concurrency"`
	RequestBytes int    `json:"requestBytes"`
}

type latency struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
	Mean    float64 `json:"mean"`
}

type counts struct {
	Handshakes int            `json:"handshakes"`
	Resumed    int            `json:"resumed"`
	Requests   int            `json:"requests"`
	Failed     map[string]int `json:"failed"`
	Latency    *latency       `json:"latency,omitempty"`
}

type run struct {
	mu         sync.Mutex
	handshakes int
	resumed    int
	requests   int
	failed     map[string]int
	samplesMs  []float64
	stopping   chan struct{}
	done       sync.WaitGroup
}

func (r *run) fail(code string) {
	r.mu.Lock()
	r.failed[code]++
	r.mu.Unlock()
}

func (r *run) stopped() bool {
	select {
	case <-r.stopping:
		return true
	default:
		return false
	}
}

// snapshot copies the counts; with takeSamples it also summarises and forgets the latencies recorded so far.
func (r *run) snapshot(takeSamples bool) counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	failed := make(map[string]int, len(r.failed))
	for k, v := range r.failed {
		failed[k] = v
	}
	c := counts{Handshakes: r.handshakes, Resumed: r.resumed, Requests: r.requests, Failed: failed}
	if takeSamples {
		c.Latency = summarize(r.samplesMs)
		r.samplesMs = r.samplesMs[:0]
	}
	return c
}

// summarize gives nearest-rank percentiles, like bench/lib/stats.ts, so every value reported was observed.
func summarize(samples []float64) *latency {
	if len(samples) == 0 {
		return &latency{}
	}
	sorted := append([]float64(nil), samples...)
	sort.Float64s(sorted)
	rank := func(p float64) float64 {
		i := int(float64(len(sorted))*p/100+0.999999) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(sorted) {
			i = len(sorted) - 1
		}
		return sorted[i]
	}
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	return &latency{Samples: len(sorted), P50: rank(50), P99: rank(99), Max: sorted[len(sorted)-1], Mean: sum / float64(len(sorted))}
}

func codeOf(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "no_byte"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr.Op + ": " + opErr.Err.Error()
	}
	return err.Error()
}

// handshakes keeps one connection slot busy: connect, mTLS handshake, read the server's byte, wait for its close.
func handshakes(r *run, base *tls.Config, address string, resume bool) {
	defer r.done.Done()
	config := base.Clone()
	if resume {
		config.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	}
	buf := make([]byte, 64)
	for !r.stopped() {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", address, config)
		if err != nil {
			r.fail(codeOf(err))
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		resumed := conn.ConnectionState().DidResume
		// Under TLS 1.3 a refused client certificate shows on the first read, so only the byte counts as success.
		if _, err = io.ReadFull(conn, buf[:1]); err != nil {
			r.fail(codeOf(err))
			conn.Close()
			continue
		}
		// The server closes first, so the client's port does not linger in TIME_WAIT.
		_, _ = io.Copy(io.Discard, conn)
		conn.Close()
		r.mu.Lock()
		r.handshakes++
		if resumed {
			r.resumed++
		}
		r.mu.Unlock()
	}
}

// plainConnections keeps one connection slot busy over plain TCP (a proxy in front that originates TLS itself):
// connect, send one byte, read its echo, close. Each completed round trip counts as a handshake.
func plainConnections(r *run, address string) {
	defer r.done.Done()
	buf := []byte{'x'}
	for !r.stopped() {
		conn, err := net.DialTimeout("tcp", address, 10*time.Second)
		if err != nil {
			r.fail(codeOf(err))
			time.Sleep(10 * time.Millisecond)
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err = conn.Write(buf); err == nil {
			_, err = io.ReadFull(conn, buf)
		}
		conn.Close()
		if err != nil {
			r.fail(codeOf(err))
			continue
		}
		r.mu.Lock()
		r.handshakes++
		r.mu.Unlock()
	}
}

// requests keeps one long-lived connection sending a request and waiting for its echo, back to back; with a nil
// config the connection is plain TCP (the application measured without a proxy in front).
func requests(r *run, base *tls.Config, address string, size int) {
	defer r.done.Done()
	out := make([]byte, size)
	for i := range out {
		out[i] = byte('a' + i%26)
	}
	in := make([]byte, size)
	for !r.stopped() {
		var conn net.Conn
		var err error
		dialer := &net.Dialer{Timeout: 10 * time.Second}
		if base == nil {
			conn, err = dialer.Dial("tcp", address)
		} else {
			conn, err = tls.DialWithDialer(dialer, "tcp", address, base)
		}
		if err != nil {
			r.fail(codeOf(err))
			time.Sleep(50 * time.Millisecond)
			continue
		}
		r.mu.Lock()
		r.handshakes++
		r.mu.Unlock()
		for !r.stopped() {
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			start := time.Now()
			if _, err = conn.Write(out); err == nil {
				_, err = io.ReadFull(conn, in)
			}
			if err != nil {
				r.fail(codeOf(err))
				break
			}
			elapsed := float64(time.Since(start).Nanoseconds()) / 1e6
			r.mu.Lock()
			r.requests++
			r.samplesMs = append(r.samplesMs, elapsed)
			r.mu.Unlock()
		}
		conn.Close()
	}
}

func tlsConfig(chainPath, keyPath, bundlePath string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(chainPath, keyPath)
	if err != nil {
		return nil, err
	}
	bundle, err := os.ReadFile(bundlePath)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("no certificate in %s", bundlePath)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS13,
		// SVIDs name a SPIFFE ID, not a host: the chain is verified against the bundle here instead of by name.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			certs := make([]*x509.Certificate, len(raw))
			for i, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				certs[i] = c
			}
			if len(certs) == 0 {
				return errors.New("the server sent no certificate")
			}
			intermediates := x509.NewCertPool()
			for _, c := range certs[1:] {
				intermediates.AddCert(c)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return err
		},
	}, nil
}

func main() {
	chain := flag.String("cert", "", "client certificate chain (PEM, leaf first)")
	key := flag.String("key", "", "client private key (PEM)")
	bundle := flag.String("ca", "", "trust bundle (PEM)")
	flag.Parse()
	config, err := tlsConfig(*chain, *key, *bundle)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go load client: %v\n", err)
		_ = json.NewEncoder(os.Stdout).Encode(map[string]string{"type": "failed", "message": err.Error()})
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	reply := func(id int, c counts) {
		_ = out.Encode(map[string]interface{}{"type": "counts", "id": id, "counts": c})
	}
	_ = out.Encode(map[string]string{"type": "ready"})
	var current *run
	empty := counts{Failed: map[string]int{}}
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		var req request
		if err := json.Unmarshal(lines.Bytes(), &req); err != nil {
			fmt.Fprintf(os.Stderr, "go load client: bad request %q: %v\n", lines.Text(), err)
			continue
		}
		switch req.Op {
		case "start":
			if current != nil {
				close(current.stopping)
				current.done.Wait()
			}
			current = &run{failed: map[string]int{}, stopping: make(chan struct{})}
			address := net.JoinHostPort(req.Host, strconv.Itoa(req.Port))
			for i := 0; i < req.Concurrency; i++ {
				current.done.Add(1)
				switch req.Mode {
				case "requests":
					go requests(current, config, address, req.RequestBytes)
				case "plain-requests":
					go requests(current, nil, address, req.RequestBytes)
				case "plain-connections":
					go plainConnections(current, address)
				default:
					go handshakes(current, config, address, req.Mode == "resumed")
				}
			}
			reply(req.ID, current.snapshot(true))
		case "snapshot":
			if current == nil {
				reply(req.ID, empty)
			} else {
				reply(req.ID, current.snapshot(true))
			}
		case "stop":
			// Answered once every connection in flight has closed, so runs never overlap.
			if current == nil {
				reply(req.ID, empty)
				continue
			}
			close(current.stopping)
			current.done.Wait()
			reply(req.ID, current.snapshot(false))
			current = nil
		}
	}
}
