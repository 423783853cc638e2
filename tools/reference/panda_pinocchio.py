"""Pinocchio's inverse and forward dynamics of the Franka Panda, for lrmem-tasks' tests.

Writes `crates/tasks/tests/fixtures/panda/pinocchio.json`: for each case (the bare arm; a
1.5 kg point payload at an offset from the flange; that payload plus joint friction) a list of
`rnea` states {q, qd, qdd, tau} with tau = RNEA(q, qd, qdd) and a list of `aba` states
{q, qd, tau, qdd} with qdd = ABA(q, qd, tau), at seeded random states. `crates/tasks/tests/panda.rs`
holds `lrmem_tasks::panda::Panda` (phyz-rigid) to these numbers; the `rnea` and `aba` lists are
also valid STATES files of `cargo run -p lrmem-tasks --example panda -- rnea|aba STATES.json`
(the extra field is ignored).

The model is independent of lrmem's: Pinocchio parses the vendored URDF itself
(`crates/tasks/data/panda/panda.urdf`, checked here against the sha256 in PROVENANCE.md) and
the finger joints are locked at opening 0 with `buildReducedModel` (lrmem instead rewrites them
as fixed joints). The payload is added as `pin.Inertia(m, c, 0)` to joint 7's inertia, with c
the flange offset (0, 0, 0.107) plus the payload's offset in the flange frame (lrmem instead
gives the massless flange body `panda_link8` a point mass). Friction is not part of Pinocchio;
the friction case adds lrmem's documented law (viscous·qd + coulomb·tanh(qd / scale)) to
Pinocchio's RNEA torque and subtracts it from the torque handed to Pinocchio's ABA.

Not run by CI. Run it in a scratch venv:

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install -r tools/reference/requirements-panda.txt
    /tmp/refvenv/bin/python tools/reference/panda_pinocchio.py

Floats are written with Python's repr (the shortest decimal that reads back as the same f64).
"""

import hashlib
import json
import os
import sys

import numpy as np
import pinocchio as pin

SEED = 20190713
STATES = 60
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
URDF = os.path.join(ROOT, "crates", "tasks", "data", "panda", "panda.urdf")
URDF_SHA256 = "63792d2679f22c4e41cda2c4d9d903644e628970ad0656b9eec8485113941555"
OUT = os.path.join(ROOT, "crates", "tasks", "tests", "fixtures", "panda", "pinocchio.json")

# Franka's datasheet ("Robot and interface specifications", Franka Control Interface docs);
# the same numbers as lrmem_tasks::panda's constants.
Q_MIN = np.array([-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973])
Q_MAX = np.array([2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973])
QD_MAX = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
QDD_MAX = np.array([15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0])
TAU_MAX = np.array([87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0])
FLANGE = np.array([0.0, 0.0, 0.107])

PAYLOAD = {"mass": 1.5, "offset": [0.02, -0.015, 0.1034]}
FRICTION = {
    "viscous": [0.06, 0.2, 0.07, 0.25, 0.15, 0.1, 0.05],
    "coulomb": [0.5, 0.8, 0.6, 1.2, 0.45, 0.3, 0.45],
    "velocity_scale": 0.1,
}
NO_PAYLOAD = {"mass": 0.0, "offset": [0.0, 0.0, 0.1034]}
NO_FRICTION = {"viscous": [0.0] * 7, "coulomb": [0.0] * 7, "velocity_scale": 0.1}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def reduced_model():
    full = pin.buildModelFromUrdf(URDF)
    fingers = [full.getJointId(n) for n in ("panda_finger_joint1", "panda_finger_joint2")]
    model = pin.buildReducedModel(full, fingers, pin.neutral(full))
    assert model.nq == 7 and model.nv == 7, (model.nq, model.nv)
    assert [model.names[i] for i in range(1, 8)] == [f"panda_joint{i}" for i in range(1, 8)]
    return model


def with_payload(model, payload):
    model = model.copy()
    lever = FLANGE + np.array(payload["offset"])
    model.inertias[7] = model.inertias[7] + pin.Inertia(payload["mass"], lever, np.zeros((3, 3)))
    return model


def friction_torque(friction, qd):
    return np.array(friction["viscous"]) * qd + np.array(friction["coulomb"]) * np.tanh(
        qd / friction["velocity_scale"])


def case(name, base, payload, friction, rng):
    model = with_payload(base, payload)
    data = model.createData()
    rnea, aba = [], []
    for _ in range(STATES):
        q = rng.uniform(Q_MIN, Q_MAX)
        qd = rng.uniform(-QD_MAX, QD_MAX)
        qdd = rng.uniform(-QDD_MAX, QDD_MAX)
        tau = pin.rnea(model, data, q, qd, qdd) + friction_torque(friction, qd)
        rnea.append({"q": q.tolist(), "qd": qd.tolist(), "qdd": qdd.tolist(), "tau": tau.tolist()})
    for _ in range(STATES):
        q = rng.uniform(Q_MIN, Q_MAX)
        qd = rng.uniform(-QD_MAX, QD_MAX)
        tau = rng.uniform(-0.5 * TAU_MAX, 0.5 * TAU_MAX)
        qdd = pin.aba(model, data, q, qd, tau - friction_torque(friction, qd))
        aba.append({"q": q.tolist(), "qd": qd.tolist(), "tau": tau.tolist(), "qdd": qdd.tolist()})
    return {"name": name, "payload": payload, "friction": friction, "rnea": rnea, "aba": aba}


def main():
    digest = sha256(URDF)
    if digest != URDF_SHA256:
        sys.exit(f"{URDF} has sha256 {digest}, expected {URDF_SHA256} (PROVENANCE.md)")
    base = reduced_model()
    g = base.gravity.linear
    assert np.allclose(g, [0.0, 0.0, -9.81]), g
    rng = np.random.default_rng(SEED)
    ready = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
    doc = {
        "provenance": {
            "generator": "tools/reference/panda_pinocchio.py",
            "pinocchio": pin.__version__,
            "numpy": np.__version__,
            "urdf": "crates/tasks/data/panda/panda.urdf",
            "urdf_sha256": digest,
            "fingers": "locked at 0 with pinocchio.buildReducedModel",
            "gravity": g.tolist(),
            "seed": SEED,
            "sampling": "q ~ U(Q_MIN, Q_MAX), qd ~ U(-QD_MAX, QD_MAX), qdd ~ U(-QDD_MAX, QDD_MAX), "
                        "tau ~ U(-TAU_MAX/2, TAU_MAX/2) (Franka datasheet limits), numpy "
                        "default_rng(seed), cases in order",
        },
        "ready_pose": {"q": ready.tolist(),
                       "gravity_torque": pin.computeGeneralizedGravity(
                           base, base.createData(), ready).tolist()},
        "cases": [
            case("bare", base, NO_PAYLOAD, NO_FRICTION, rng),
            case("payload", base, PAYLOAD, NO_FRICTION, rng),
            case("payload_friction", base, PAYLOAD, FRICTION, rng),
        ],
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
