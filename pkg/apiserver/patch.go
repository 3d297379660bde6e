package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// patchType reads the Content-Type of a PATCH; anything but the three
// patch types we apply and server-side apply in YAML (JSON is YAML) is a
// 415.
func patchType(c *gin.Context) (types.PatchType, error) {
	mt, _, _ := mime.ParseMediaType(c.ContentType())
	switch types.PatchType(mt) {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
		return types.PatchType(mt), nil
	case types.ApplyCBORPatchType:
		return "", unsupportedMediaType("server-side apply in CBOR is not supported by this server: send the applied configuration as " + string(types.ApplyYAMLPatchType))
	}
	return "", unsupportedMediaType(fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s", types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType))
}

// applyPatch applies patch of type pt to the JSON of an object whose Go
// type is that of schemaObj (for strategic merge's patch strategies).
func applyPatch(pt types.PatchType, original, patch []byte, schemaObj runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest("decoding the JSON patch: " + err.Error())
		}
		invalid := func(msg string) error {
			return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), string(patch), msg)})
		}
		// The library dereferences the missing value of an add or a
		// replace of the whole document (kube-apiserver answers that
		// patch with a 500): refused here as the bad input it is.
		for _, op := range p {
			if k := op.Kind(); k == "add" || k == "replace" {
				if path, err := op.Path(); err == nil && path == "" && op["value"] == nil {
					return nil, invalid(k + " operation, missing value field")
				}
			}
		}
		out, err := applyJSONPatch(p, original)
		if err != nil {
			return nil, invalid(err.Error())
		}
		return out, nil
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("the merge patch is not valid JSON")
		}
		out, err := jsonpatch.MergePatch(original, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest("applying the merge patch: " + err.Error())
		}
		return out, nil
	case types.StrategicMergePatchType:
		var m map[string]any
		if err := json.Unmarshal(patch, &m); err != nil {
			return nil, apierrors.NewBadRequest("the strategic merge patch is not a JSON object: " + err.Error())
		}
		out, err := strategicpatch.StrategicMergePatch(original, patch, schemaObj)
		if err != nil {
			return nil, apierrors.NewBadRequest("applying the strategic merge patch: " + err.Error())
		}
		return out, nil
	}
	return nil, unsupportedMediaType(string(pt))
}

func (s *Server) patch(k *call, status bool) {
	pt, err := patchType(k.c)
	if err != nil {
		writeError(k.c, err)
		return
	}
	if pt == types.StrategicMergePatchType && k.r.CRD != nil {
		// As kube-apiserver: custom resources have no patch strategies.
		writeError(k.c, unsupportedMediaType(fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s", types.JSONPatchType, types.MergePatchType, types.ApplyYAMLPatchType)))
		return
	}
	if pt == types.ApplyYAMLPatchType {
		s.apply(k, status)
		return
	}
	if k.c.Query("force") != "" {
		writeError(k.c, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", field.ErrorList{field.Forbidden(field.NewPath("force"), "may not be specified for non-apply patch")}))
		return
	}
	patch, err := readBody(k.c)
	if err != nil {
		writeError(k.c, err)
		return
	}
	first := true
	out, err := s.guaranteedUpdate(k, func(cur runtime.Object) (runtime.Object, error) {
		// The patch applies to the version the client sees.
		wire := k.wire()
		shown, err := toServed(k.c, cur)
		if err != nil {
			return nil, err
		}
		orig, err := json.Marshal(shown)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := applyPatch(pt, orig, patch, wire.New())
		if err != nil {
			return nil, err
		}
		c := k.c
		if !first {
			c = &gin.Context{Request: k.c.Request, Writer: discardHeaders{k.c.Writer}}
		}
		first = false
		obj, err := s.decodeInto(c, patched, wire.GroupVersionKind(), wire.New)
		if err != nil {
			return nil, err
		}
		if obj, err = k.toStorage(obj); err != nil {
			return nil, err
		}
		if err := checkNameMatches(k, obj); err != nil {
			return nil, err
		}
		return s.prepareUpdate(k, obj, cur, status)
	})
	if err != nil {
		writeError(k.c, err)
		return
	}
	writeObject(k.c, http.StatusOK, k.r, out)
}

// discardHeaders swallows the warnings of a retried patch attempt.
type discardHeaders struct{ gin.ResponseWriter }

func (d discardHeaders) Header() http.Header { return http.Header{} }

func typesPatch(s string) types.PatchType { return types.PatchType(s) }

// applyJSONPatch applies p, turning a panic of the patch library (on
// input it does not expect) into an error: a patch is the client's input.
func applyJSONPatch(p jsonpatch.Patch, original []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("the patch could not be applied: %v", r)
		}
	}()
	return p.Apply(original)
}
