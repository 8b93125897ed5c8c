from orchestrator.temporal.client import connect_options


def test_local_dev_server_needs_only_a_namespace(settings):
    settings.TEMPORAL_NAMESPACE = "handrail"
    assert connect_options() == {"namespace": "handrail"}


def test_a_cluster_with_mutual_tls_and_cloud_api_key(settings, tmp_path):
    cert, key, ca = tmp_path / "client.pem", tmp_path / "client.key", tmp_path / "ca.pem"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    ca.write_bytes(b"CA")
    settings.TEMPORAL_TLS_CERT, settings.TEMPORAL_TLS_KEY, settings.TEMPORAL_TLS_CA = str(cert), str(key), str(ca)
    settings.TEMPORAL_API_KEY = "secret-key"
    options = connect_options()
    tls = options["tls"]
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (b"CERT", b"KEY", b"CA")
    assert options["api_key"] == "secret-key"
