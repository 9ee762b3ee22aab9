#!/bin/sh
ca=$(sha256sum < "$KUBE_ROOT/etc/kubernetes/pki/ca.crt" | cut -d' ' -f1)
fp=$(sha256sum < "$KUBE_ROOT/etc/kubernetes/pki/front-proxy-ca.crt" | cut -d' ' -f1)
printf '%s\n' "kubeadm $* ca=$ca front-proxy-ca=$fp" >> "$STUB_LOG"
