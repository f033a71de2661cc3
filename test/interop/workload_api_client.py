"""An independent SPIFFE Workload API client for Sigil's interop test, on Debian's python3-grpcio.

Stubs are generated here, at run time, from Sigil's proto/spiffe/workload/workload.proto with grpc_tools. The script
prints one JSON object per line (events) and reads one line from stdin when it needs the test to act (a renewal).
Usage: workload_api_client.py PROTO_FILE SOCKET_PATH WORK_DIR AUDIENCE
"""
import json
import os
import sys

import grpc
import grpc_tools
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from grpc_tools import protoc

proto_file, socket_path, work_dir, audience = sys.argv[1:5]


def emit(**event):
    print(json.dumps(event), flush=True)


proto_dir = os.path.dirname(proto_file)
includes = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
rc = protoc.main(["protoc", f"-I{proto_dir}", f"-I{includes}", f"--python_out={work_dir}",
                  f"--grpc_python_out={work_dir}", os.path.basename(proto_file)])
if rc != 0:
    emit(event="error", message=f"protoc failed with {rc}")
    sys.exit(1)
sys.path.insert(0, work_dir)
import workload_pb2  # noqa: E402
import workload_pb2_grpc  # noqa: E402

HEADER = [("workload.spiffe.io", "true")]
channel = grpc.insecure_channel(f"unix:{socket_path}")
stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(channel)


def status_of(call):
    try:
        call()
        return "OK"
    except grpc.RpcError as err:
        return err.code().name


def der_certs(blob):
    """Splits concatenated DER certificates."""
    certs, rest = [], blob
    while rest:
        # The DER length is in the SEQUENCE header: 0x30 0x82 hi lo for certificates.
        assert rest[0] == 0x30 and rest[1] == 0x82, "unexpected DER header"
        length = 4 + (rest[2] << 8 | rest[3])
        certs.append(x509.load_der_x509_certificate(rest[:length]))
        rest = rest[length:]
    return certs


emit(event="no-header",
     x509=status_of(lambda: next(stub.FetchX509SVID(workload_pb2.X509SVIDRequest(), timeout=10))),
     jwt=status_of(lambda: stub.FetchJWTSVID(workload_pb2.JWTSVIDRequest(audience=[audience]), timeout=10)))

stream = stub.FetchX509SVID(workload_pb2.X509SVIDRequest(), metadata=HEADER, timeout=120)
first = next(stream)
svid = first.svids[0]
chain = der_certs(svid.x509_svid)
bundle = der_certs(svid.bundle)
key = serialization.load_der_private_key(svid.x509_svid_key, password=None)
pub = serialization.PublicFormat.SubjectPublicKeyInfo
key_matches = (key.public_key().public_bytes(serialization.Encoding.DER, pub)
               == chain[0].public_key().public_bytes(serialization.Encoding.DER, pub))


def pem_file(name, certs):
    path = os.path.join(work_dir, name)
    with open(path, "wb") as f:
        for c in certs:
            f.write(c.public_bytes(serialization.Encoding.PEM))
    return path


emit(event="x509", spiffe_id=svid.spiffe_id, serial=format(chain[0].serial_number, "x"), key_matches=key_matches,
     leaf=pem_file("leaf.pem", chain[:1]), untrusted=pem_file("chain.pem", chain[1:]),
     bundle=pem_file("bundle.pem", bundle))
sys.stdin.readline()  # the test has ordered a renewal
second = next(stream)
emit(event="x509-renewed", serial=format(der_certs(second.svids[0].x509_svid)[0].serial_number, "x"),
     key_changed=second.svids[0].x509_svid_key != svid.x509_svid_key)
stream.cancel()

bundles = next(stub.FetchJWTBundles(workload_pb2.JWTBundlesRequest(), metadata=HEADER, timeout=10))
td, jwks_bytes = next(iter(bundles.bundles.items()))
jwks = json.loads(jwks_bytes)
response = stub.FetchJWTSVID(workload_pb2.JWTSVIDRequest(audience=[audience]), metadata=HEADER, timeout=10)
token = response.svids[0].svid
kid = jwt.get_unverified_header(token)["kid"]
key = next(jwt.PyJWK(k) for k in jwks["keys"] if k.get("kid") == kid)
claims = jwt.decode(token, key.key, algorithms=["ES256", "RS256"], audience=audience)
try:
    jwt.decode(token, key.key, algorithms=["ES256", "RS256"], audience="someone-else")
    wrong_audience = "accepted"
except jwt.InvalidAudienceError:
    wrong_audience = "refused"
emit(event="jwt", trust_domain=td, sub=claims["sub"], lifetime=claims["exp"] - claims["iat"],
     response_spiffe_id=response.svids[0].spiffe_id, wrong_audience=wrong_audience)

valid = stub.ValidateJWTSVID(workload_pb2.ValidateJWTSVIDRequest(audience=audience, svid=token), metadata=HEADER,
                             timeout=10)
emit(event="validate", spiffe_id=valid.spiffe_id, aud=valid.claims["aud"],
     other_audience=status_of(lambda: stub.ValidateJWTSVID(
         workload_pb2.ValidateJWTSVIDRequest(audience="someone-else", svid=token), metadata=HEADER, timeout=10)),
     no_audience=status_of(lambda: stub.FetchJWTSVID(workload_pb2.JWTSVIDRequest(), metadata=HEADER, timeout=10)))
emit(event="done")
