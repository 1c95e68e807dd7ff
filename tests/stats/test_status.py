import numpy as np

from vggexplorer.stats import status as dead


def test_each_category_on_hand_made_statistics():
    # channel: 0 alive, 1 weight-dead but BN keeps it on, 2 never fires, 3 fires at 0.5% of positions,
    # 4 at 40% of dense's mean, 5 at 20% of dense's mean, 6 silent in dense and here
    filt = np.array([0.3, 1.0, 0.95, 0.5, 0.2, 0.9, 0.0])
    fire = np.array([1.0, 1.0, 0.0, 0.3, 1.0, 1.0, 0.0])
    dens = np.array([0.5, 1.0, 0.0, 0.005, 0.4, 0.3, 0.0])
    mean = np.array([1.0, 0.2, 0.0, 0.01, 0.4, 0.2, 0.0])
    dense_mean = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    f = dead.grade(filt, fire, dens, mean, dense_mean)
    assert f[dead.WEIGHT_DEAD].tolist() == [False, True, False, False, False, False, False]
    assert f[dead.ACTIVATION_DEAD].tolist() == [False, False, True, False, False, False, True]
    assert f[dead.DORMANT].tolist() == [False, False, True, True, False, False, True]
    assert f[dead.WEAKENED].tolist() == [False, True, True, True, False, True, False]
    assert dead.status(f).tolist() == ["alive", "weight-dead", "activation-dead", "dormant", "alive", "weakened",
                                       "activation-dead"]
    c = dead.counts(f, filt)
    assert c == {"weight-dead": 1, "activation-dead": 2, "dormant": 3, "weakened": 4,
                 dead.SPARSE_FILTERS: 3, "channels": 7}


def test_dense_is_never_weakened_against_itself():
    f = dead.grade(np.zeros(2), np.ones(2), np.ones(2), np.array([0.0001, 5.0]), None)
    assert not f[dead.WEAKENED].any()


def test_died_at_is_the_first_rung_in_any_dead_category():
    def flags(wd, ad, dm):
        return {dead.WEIGHT_DEAD: np.array(wd), dead.ACTIVATION_DEAD: np.array(ad), dead.DORMANT: np.array(dm),
                dead.WEAKENED: np.array([True, True, True, True])}
    by_rung = {
        95: flags([True, True, False, False], [True, True, False, False], [True, True, True, False]),
        55: flags([False, False, False, False], [False, False, False, False], [False, True, False, False]),
        75: flags([False, True, False, False], [True, False, False, False], [True, False, False, False]),
    }
    # weakened alone never counts as died; a channel dormant at 55 that recovers at 75 still died at 55
    assert dead.died_at(by_rung).tolist() == [75, 55, 95, -1]
