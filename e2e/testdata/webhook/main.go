// Command webhook is the admission webhook of the e2e test
// TestAdmissionWebhookInPod: HTTPS on :8443 with the certificate and key
// in $TLS_CERT and $TLS_KEY (PEM). /validate refuses ConfigMaps that hold
// the key "forbidden"; /mutate adds data["mutated"] to ConfigMaps.
// Standard library only, so that it builds in seconds.
package main

import (
	"crypto/tls"
	"encoding/json"
	"log"
	"net/http"
	"os"
)

type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type request struct {
	UID    string `json:"uid"`
	Object struct {
		Data map[string]string `json:"data"`
	} `json:"object"`
}

type response struct {
	UID       string  `json:"uid"`
	Allowed   bool    `json:"allowed"`
	Result    *status `json:"status,omitempty"`
	Patch     []byte  `json:"patch,omitempty"`
	PatchType string  `json:"patchType,omitempty"`
}

type status struct {
	Message string `json:"message"`
}

func handle(decide func(*request) *response) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var rv review
		if err := json.NewDecoder(r.Body).Decode(&rv); err != nil || rv.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		resp := decide(rv.Request)
		resp.UID = rv.Request.UID
		log.Printf("%s %s: allowed %v", r.URL.Path, rv.Request.UID, resp.Allowed)
		rv.Request, rv.Response = nil, resp
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&rv)
	}
}

func main() {
	pair, err := tls.X509KeyPair([]byte(os.Getenv("TLS_CERT")), []byte(os.Getenv("TLS_KEY")))
	if err != nil {
		log.Fatalf("reading $TLS_CERT and $TLS_KEY: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", handle(func(req *request) *response {
		if _, ok := req.Object.Data["forbidden"]; ok {
			return &response{Result: &status{Message: "the configmap contains unwanted key"}}
		}
		return &response{Allowed: true}
	}))
	mux.HandleFunc("/mutate", handle(func(req *request) *response {
		patch := `[{"op":"add","path":"/data/mutated","value":"yes"}]`
		if len(req.Object.Data) == 0 {
			patch = `[{"op":"add","path":"/data","value":{"mutated":"yes"}}]`
		}
		return &response{Allowed: true, Patch: []byte(patch), PatchType: "JSONPatch"}
	}))
	srv := &http.Server{Addr: ":8443", Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}
	log.Printf("serving on :8443")
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
