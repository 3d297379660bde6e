package apiserver

import (
	"bytes"
	"encoding/json"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPanicIsA500Status(t *testing.T) {
	var logged bytes.Buffer
	s := &Server{logger: log.New(&logged, "", 0)}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(s.recoverPanic)
	e.GET("/boom", func(c *gin.Context) { panic("kaboom") })
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/boom", nil))
	var st metav1.Status
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatalf("body is not a Status: %s", w.Body.String())
	}
	if w.Code != 500 || st.Code != 500 || st.Reason != metav1.StatusReasonInternalError {
		t.Fatalf("got %d %+v, want a 500 InternalError Status", w.Code, st)
	}
	if !strings.Contains(logged.String(), "kaboom") {
		t.Fatalf("panic not logged: %q", logged.String())
	}
}
