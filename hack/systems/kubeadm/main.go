// Command kubeadm-ca makes a cluster CA with kubeadm's own certificate code
// and reads CA files back with kubeadm's own loader, so carousel's tests
// adopt the CA `kubeadm init` writes, not an imitation of it.
//
//	kubeadm-ca make -dir DIR [-name ca] [-cn kubernetes] [-algorithm RSA-2048]
//	kubeadm-ca load -dir DIR [-name ca]
//
// make calls pkiutil.NewCertificateAuthority (k8s.io/kubernetes
// cmd/kubeadm/app/util/pkiutil, the function kubeadm's certs phase makes
// ca, front-proxy-ca and etcd/ca with) and writes DIR/NAME.crt and
// DIR/NAME.key with pkiutil.WriteCertAndKey, as kubeadm writes
// /etc/kubernetes/pki/ca.crt and ca.key. -algorithm is kubeadm's
// ClusterConfiguration.encryptionAlgorithm (RSA-2048, RSA-3072, RSA-4096,
// ECDSA-P256, ECDSA-P384); kubeadm's default is RSA-2048.
//
// load reads DIR/NAME.crt and DIR/NAME.key with
// pkiutil.TryLoadCertAndKeyFromDisk, the loader kubeadm's certs and
// kubeconfig phases use for a CA already on disk (a CA carousel made and
// the runbook installed: RSA and ECDSA keys only), and refuses what
// kubeadm's certs phase then refuses (phases/certs, validateCACert): a
// certificate that is not a CA.
//
// Exit status: 0 done; 1 kubeadm's code refused (its error on stderr);
// 2 bad usage.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	certutil "k8s.io/client-go/util/cert"
	kubeadmapi "k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm"
	"k8s.io/kubernetes/cmd/kubeadm/app/util/pkiutil"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fs.String("dir", "", "the PKI directory (kubeadm's certificatesDir, /etc/kubernetes/pki)")
	name := fs.String("name", "ca", "the base name of the files: NAME.crt, NAME.key")
	cn := fs.String("cn", "kubernetes", "make: the CA's common name (kubeadm's cluster CA is \"kubernetes\")")
	alg := fs.String("algorithm", string(kubeadmapi.EncryptionAlgorithmRSA2048), "make: kubeadm's encryptionAlgorithm")
	_ = fs.Parse(os.Args[2:])
	if *dir == "" {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "make":
		err = makeCA(*dir, *name, *cn, kubeadmapi.EncryptionAlgorithmType(*alg))
	case "load":
		err = loadCA(*dir, *name)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeadm-ca:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kubeadm-ca make|load -dir DIR [-name ca] [-cn kubernetes] [-algorithm RSA-2048]")
	os.Exit(2)
}

func makeCA(dir, name, cn string, alg kubeadmapi.EncryptionAlgorithmType) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cert, key, err := pkiutil.NewCertificateAuthority(&pkiutil.CertConfig{
		Config:              certutil.Config{CommonName: cn},
		EncryptionAlgorithm: alg,
	})
	if err != nil {
		return err
	}
	return pkiutil.WriteCertAndKey(dir, name, cert, key)
}

func loadCA(dir, name string) error {
	cert, key, err := pkiutil.TryLoadCertAndKeyFromDisk(dir, name)
	if err != nil {
		return err
	}
	if key == nil {
		return fmt.Errorf("%s/%s.key holds no private key", dir, name)
	}
	// What kubeadm's certs phase asks of a CA it finds on disk
	// (phases/certs validateCACert; an expired one is only a warning there).
	if !cert.IsCA {
		return fmt.Errorf("certificate %s is not a CA", name)
	}
	fmt.Printf("%s: CA %q, %T key, valid until %s\n", name, cert.Subject.CommonName, key, cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}
