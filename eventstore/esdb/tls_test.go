package esdb_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost
// and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chronicle test node"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSAndAuthentication(t *testing.T) {
	cert, key := selfSigned(t, t.TempDir())
	srv := newMemoryServer(t, esdbserver.WithTLS(cert, key), esdbserver.WithUsers(map[string]string{"admin": "changeit"}))
	conn := srv.connString() // esdb://127.0.0.1:port?tls=true&tlsCAFile=…
	withUser := func(userinfo string) string { return strings.Replace(conn, "esdb://", "esdb://"+userinfo+"@", 1) }
	if !strings.Contains(conn, "tls=true") || !strings.Contains(conn, "tlsCAFile=") {
		t.Fatalf("connection string %q is not a TLS one", conn)
	}

	t.Run("Authenticated", func(t *testing.T) {
		s := open(t, withUser("admin:changeit"))
		ctx := testContext(t)
		ev := newEvent("Placed")
		if _, err := s.Append(ctx, "order-1", eventstore.NoStream, ev); err != nil {
			t.Fatal(err)
		}
		got, err := collect(t, s.ReadStream(ctx, "order-1", eventstore.ReadOptions{}))
		if err != nil || len(got) != 1 || got[0].ID != ev.ID {
			t.Fatalf("read %v, %v; want the appended event", got, err)
		}
		for m, err := range s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{Filter: eventstore.StreamPrefixFilter("order-")}) {
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == eventstore.MessageEvent {
				if m.Event.ID != ev.ID {
					t.Fatalf("subscription delivered %v, want %v", m.Event.ID, ev.ID)
				}
				break
			}
		}
	})
	t.Run("SkipVerify", func(t *testing.T) {
		addr := strings.TrimPrefix(strings.Split(conn, "?")[0], "esdb://")
		s := open(t, "esdb://admin:changeit@"+addr+"?tlsVerifyCert=false")
		if _, err := s.Append(testContext(t), "order-2", eventstore.Any, newEvent("Placed")); err != nil {
			t.Fatal(err)
		}
	})
	for _, c := range []struct {
		name, conn string
		want       error
		mention    string
	}{
		{"WrongPassword", withUser("admin:wrong"), eventstore.ErrAccessDenied, "authentication failed"},
		{"UnknownUser", withUser("mallory:changeit"), eventstore.ErrAccessDenied, "authentication failed"},
		{"NoCredentials", conn, eventstore.ErrAccessDenied, "authentication failed"},
		{"UntrustedCertificate", "esdb://admin:changeit@" + strings.TrimPrefix(strings.Split(conn, "?")[0], "esdb://") + "?maxDiscoverAttempts=1", eventstore.ErrUnavailable, "certificate"},
		{"Plaintext", strings.Split(conn, "?")[0] + "?tls=false&maxDiscoverAttempts=1", eventstore.ErrUnavailable, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := openErr(t, c.conn)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", c.conn)
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.mention) || strings.Contains(err.Error(), "changeit") {
				t.Fatalf("Open(%q): %v, want %v mentioning %q, without the password", c.conn, err, c.want, c.mention)
			}
		})
	}
}
