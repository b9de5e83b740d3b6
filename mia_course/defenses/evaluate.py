"""One yardstick for every defense: attack success and test accuracy on the same task.

Introduced in notebooks/08_regularization_and_data.ipynb.
"""
from sklearn.base import clone

from mia_course._validation import check_int
from mia_course.attacks import LossThresholdAttack
from mia_course.data import make_ad_clicks
from mia_course.experiments import make_target_setting
from mia_course.metrics import attack_summary
from mia_course.rmia import RMIA


def privacy_utility(model, *, n_members=1000, n_references=2, random_state=0, setting=None):
    """Train ``model`` as the ad-click target and measure it: train and test accuracy, and
    the loss-threshold and RMIA attacks (references trained like the target, on population
    data) as AUC and TPR at 0.1% / 1% FPR. Returns ``(row, setting)``.

    Introduced in notebooks/08_regularization_and_data.ipynb."""
    check_int(n_members, "n_members", minimum=2)
    check_int(n_references, "n_references", minimum=1)
    if setting is None:
        setting = make_target_setting(n_members, 1000, model=model, random_state=random_state)
    population = make_ad_clicks(2000, random_state=10_000 + random_state)  # same world, other people
    X, y, m = setting.X_eval, setting.y_eval, setting.is_member
    train_acc, test_acc = setting.accuracies()
    row = {"train accuracy": train_acc, "test accuracy": test_acc}
    rmia = RMIA(reference_model=clone(model), n_references=n_references, random_state=random_state)
    scores = {"loss": LossThresholdAttack().score_samples(setting.model, X, y),
              "RMIA": rmia.fit(population.X, population.y).score_samples(setting.model, X, y)}
    for name, s in scores.items():
        for key, value in attack_summary(m, s).items():
            row[f"{name} {key}"] = value
    return row, setting
