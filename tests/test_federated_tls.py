"""Only members get in: a deployment's credentials, and a SuperLink that refuses SuperNodes it does not know and
plaintext clients.

The credential tests are fast; the ones that start a SuperLink are marked ``deployment`` (``pytest -m deployment``).
"""
import json
import os
import stat
import subprocess
import time

import pytest

from conftest import needs, require_module

pytestmark = [needs(require_module, 'flwr', 'cryptography', extra='federated')]


def credentials_module():
    from bearer_gan.federated import credentials
    return credentials


# ---------------------------------------------------------------- credentials (fast)

def test_credentials_make_a_chain_that_verifies_with_private_keys_only_for_their_owner(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    module = credentials_module()
    made = module.make_credentials(str(tmp_path / 'credentials'), nodes=2)
    ca = x509.load_pem_x509_certificate(open(made.ca_cert, 'rb').read())
    server = x509.load_pem_x509_certificate(open(made.server_cert, 'rb').read())
    server.verify_directly_issued_by(ca)  # raises unless the CA signed it
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {'127.0.0.1'}
    assert names.get_values_for_type(x509.DNSName) == ['localhost']
    module.check_server_chain(made.ca_cert, made.server_cert, made.server_key)
    assert stat.S_IMODE(os.stat(tmp_path / 'credentials').st_mode) == 0o700
    assert len(made.node_keys) == 2 and len({key for pair in made.node_keys for key in pair}) == 4
    for private in [made.server_key] + [private for private, _ in made.node_keys]:
        assert stat.S_IMODE(os.stat(private).st_mode) == 0o600, private
    for private, public in made.node_keys:  # OpenSSH format, as flower-supernode and flwr supernode register read them
        key = serialization.load_ssh_private_key(open(private, 'rb').read(), None)
        assert key.public_key() == serialization.load_ssh_public_key(open(public, 'rb').read())
    assert not (tmp_path / 'credentials' / 'ca.key').exists()  # the CA's key is never written
    with pytest.raises(module.CredentialError, match='already holds credentials'):
        module.make_credentials(str(tmp_path / 'credentials'), nodes=1)


def test_a_certificate_that_does_not_match_is_refused_in_one_line(tmp_path):
    module = credentials_module()
    ours = module.make_credentials(str(tmp_path / 'ours'), nodes=1)
    theirs = module.make_credentials(str(tmp_path / 'theirs'), nodes=1)
    cases = [((ours.ca_cert, theirs.server_cert, theirs.server_key), 'was not signed by the CA'),
             ((ours.ca_cert, ours.server_cert, theirs.server_key), 'is not the private key of'),
             ((ours.ca_cert, ours.server_cert, ours.server_key, ('127.0.0.1', 'superlink.example')),
              'not valid for superlink.example'),
             ((ours.ca_cert, ours.server_key, ours.server_key), 'not a readable PEM certificate')]
    for args, message in cases:
        with pytest.raises(module.CredentialError, match=message) as error:
            module.check_server_chain(*args)
        assert '\n' not in str(error.value)


def test_credentials_made_beforehand_are_checked_before_use(tmp_path):
    module = credentials_module()
    ours = module.make_credentials(str(tmp_path / 'ours'), nodes=2)
    theirs = module.make_credentials(str(tmp_path / 'theirs'), nodes=2)
    assert module.load_credentials(str(tmp_path / 'ours'), nodes=2) == ours
    assert module.load_credentials(str(tmp_path / 'ours'), nodes=1).node_keys == ours.node_keys[:1]
    with pytest.raises(module.CredentialError, match='lacks supernode-2.key, supernode-2.pub'):
        module.load_credentials(str(tmp_path / 'ours'), nodes=3)
    os.replace(theirs.node_keys[1][1], ours.node_keys[1][1])  # node 1's public key is another's
    with pytest.raises(module.CredentialError, match='supernode-1.pub is not the public key of'):
        module.load_credentials(str(tmp_path / 'ours'), nodes=2)
    os.replace(theirs.server_cert, ours.server_cert)  # a server certificate from another CA
    with pytest.raises(module.CredentialError, match='was not signed by the CA'):
        module.load_credentials(str(tmp_path / 'ours'), nodes=2)


def test_a_deployment_given_credentials_that_do_not_match_is_one_line_and_exit_2(tmp_path, capsys):
    from bearer_gan.cli.main import main as cli_main
    module = credentials_module()
    ours = module.make_credentials(str(tmp_path / 'ours'), nodes=2)
    theirs = module.make_credentials(str(tmp_path / 'theirs'), nodes=2)
    os.replace(theirs.server_key, ours.server_key)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(['federate', '--deploy', '--owners', '2', '--credentials', str(tmp_path / 'ours'),
                  '--out', str(tmp_path / 'run')])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert 'is not the private key of' in stderr and not (tmp_path / 'run').exists()


def test_config_json_records_the_transport_and_a_resume_still_reads_it(tmp_path):
    from bearer_gan.federated import FederatedConfig
    from bearer_gan.federated.deployment import record_security
    from bearer_gan.federated.run_folder import recorded_settings
    config = FederatedConfig(owners=2, out=str(tmp_path))
    (tmp_path / 'config.json').write_text(json.dumps(config.to_dict()))
    record_security(str(tmp_path), secure=True)
    recorded = json.loads((tmp_path / 'config.json').read_text())
    assert recorded['tls'] is True and recorded['node_authentication'] is True
    assert FederatedConfig(**recorded_settings(recorded)) == config  # what --resume and the --out check read
    record_security(str(tmp_path / 'nothing-here'), secure=False)  # no config.json yet: nothing written
    assert not (tmp_path / 'nothing-here').exists()


# ---------------------------------------------------------------- a SuperLink with TLS and SuperNode authentication

@pytest.fixture(scope='module')
def secure_link(tmp_path_factory):
    """A secure deployment of one SuperNode, its node online; shared by the refusal tests (each start costs ~20 s).
    Its credentials are made beforehand (``--credentials``); the other deployment tests make them on start."""
    from bearer_gan.federated.deployment import CONNECTION, LocalDeployment
    logs = tmp_path_factory.mktemp('secure-link')
    given = credentials_module().make_credentials(str(tmp_path_factory.mktemp('given') / 'credentials'), nodes=1)
    with LocalDeployment(1, str(logs), log=lambda line: None, credentials=given) as deployment:
        assert deployment.credentials == given and not (logs / 'credentials').exists()  # used, none made
        deadline = time.monotonic() + 90
        while [node['status'] for node in nodes(deployment, CONNECTION)] != ['online']:
            assert time.monotonic() < deadline, f"SuperNode 0 never came online: {deployment.tail('supernode-0')}"
            time.sleep(1)
        yield deployment


def nodes(deployment, connection):
    return deployment.flwr('supernode', 'ls', connection, timeout=60)['nodes']


def exit_code(process, timeout=90):
    """The process's exit code; it is killed (and the test fails) when it is still running after ``timeout`` s."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


@pytest.mark.deployment
def test_a_supernode_whose_key_was_not_registered_is_refused(secure_link, tmp_path):
    """Neither a SuperNode that registers itself (what a SuperNode without a key does, and a SuperLink without
    ``--enable-supernode-auth`` accepts) nor one with a key nobody registered gets in; both over valid TLS."""
    from bearer_gan.federated.deployment import CONNECTION
    module = credentials_module()
    stranger = module.make_credentials(str(tmp_path / 'stranger'), nodes=1).node_keys[0][0]
    ca = ['--root-certificates', secure_link.credentials.ca_cert]
    retries = ('--max-retries', '3', '--max-wait-time', '30')
    keyless = secure_link.launch_supernode(0, *retries, name='keyless', security=ca)
    unregistered = secure_link.launch_supernode(0, *retries, name='stranger',
                                                security=ca + ['--auth-supernode-private-key', stranger])
    assert exit_code(keyless) != 0, secure_link.tail('keyless')
    assert exit_code(unregistered) != 0, secure_link.tail('stranger')
    assert 'Failed to activate SuperNode' in secure_link.tail('stranger', lines=40)
    superlink = secure_link.tail('superlink', lines=300)
    assert 'No SuperNode found with the given public key' in superlink  # the stranger's key
    assert '/v1/fleet/register-node' in superlink  # the keyless node asked to register itself, and was refused
    assert [node['status'] for node in nodes(secure_link, CONNECTION)] == ['online']  # only the member


@pytest.mark.deployment
def test_a_plaintext_client_cannot_reach_the_tls_superlink(secure_link):
    from bearer_gan.federated.deployment import DeploymentError
    home = os.path.join(secure_link.env['FLWR_HOME'], 'config.toml')
    with open(home, 'a') as config:  # the same SuperLink, as a connection without TLS
        config.write(f'\n[superlink.plain]\naddress = "127.0.0.1:{secure_link.port}"\ninsecure = true\n')
    with pytest.raises(DeploymentError, match='flwr supernode failed'):
        nodes(secure_link, 'plain')
    # a plaintext SuperNode (without a key: Flower refuses a key without TLS itself) fails to connect at all
    process = secure_link.launch_supernode(0, '--max-retries', '2', '--max-wait-time', '20', name='plaintext',
                                           security=['--insecure'])
    assert exit_code(process) != 0, secure_link.tail('plaintext')
    assert 'Connection attempt failed' in secure_link.tail('plaintext', lines=40)
