// Package certificates runs kube-controller-manager's three
// CertificateSigningRequest controllers, upstream's code on minik8s'
// clients:
//
//   - csrapproving approves kubernetes.io/kube-apiserver-client-kubelet
//     requests whose requester may create certificatesigningrequests/
//     nodeclient (a first certificate, asked with a bootstrap token) or
//     selfnodeclient (a renewal, asked by the node the certificate names),
//     as a SubjectAccessReview answers;
//   - csrsigning signs approved requests of the four signers Kubernetes
//     defines (kubelet-serving, kube-apiserver-client-kubelet,
//     kube-apiserver-client, legacy-unknown) with the cluster CA given by
//     --cluster-signing-cert-file/--cluster-signing-key-file, for
//     --cluster-signing-duration or the request's shorter
//     spec.expirationSeconds; without the CA files it signs nothing, as
//     kube-controller-manager skips it;
//   - csrcleaner deletes requests once done with: approved or denied
//     ones after an hour, pending ones after a day, issued ones whose
//     certificate expired.
//
// The agents join with them: a bootstrap token lets an agent ask for its
// client certificate, these controllers approve and sign it, and the
// agent renews it the same way under its own name.
package certificates
