"""The script a user would write instead of `python -m nnexp.train`: the reference of
`benchmarks/whole_command.py`.

scikit-learn's MLPClassifier on digits with nnexp's defaults (one hidden layer of 64 relu units,
plain SGD at lr 0.1, batch 32, 30 epochs, 60/20/20 split, features standardised on the training
rows), one `partial_fit` per epoch with the epoch's metrics logged, its parameters and the model
(`mlflow.sklearn.log_model`) recorded in an SQLite store:

    python benchmarks/sklearn_mlflow_reference.py [STORE_FOLDER [--lean]]   # default: ./mlruns

`--lean` gives `log_model` its pip requirements, as a user who knows that MLflow otherwise
infers them (loading the model in a subprocess) would.
"""

import sys
from pathlib import Path

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

EPOCHS, BATCH, LR, HIDDEN, SEED = 30, 32, 0.1, 64, 0

store = Path(sys.argv[1] if len(sys.argv) > 1 else "mlruns").resolve()
store.mkdir(parents=True, exist_ok=True)
mlflow.set_tracking_uri(f"sqlite:///{store}/mlflow.db")
mlflow.set_experiment("sklearn-reference")

X, y = load_digits(return_X_y=True)
X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, stratify=y,
                                                    random_state=SEED)
X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5, stratify=y_rest,
                                                random_state=SEED)
scaler = StandardScaler().fit(X_train)
X_train, X_val, X_test = (scaler.transform(a) for a in (X_train, X_val, X_test))
classes = np.unique(y)
model = MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu", solver="sgd",
                      learning_rate_init=LR, momentum=0.0, batch_size=BATCH, random_state=SEED)

with mlflow.start_run():
    mlflow.log_params({"epochs": EPOCHS, "batch_size": BATCH, "lr": LR, "hidden": HIDDEN,
                       "activation": "relu", "solver": "sgd", "seed": SEED})
    for epoch in range(1, EPOCHS + 1):
        model.partial_fit(X_train, y_train, classes=classes)
        probabilities = model.predict_proba(X_val)
        mlflow.log_metrics({"train/loss": model.loss_,
                            "val/loss": log_loss(y_val, probabilities, labels=classes),
                            "val/accuracy": accuracy_score(y_val, probabilities.argmax(1))},
                           step=epoch)
    test_accuracy = accuracy_score(y_test, model.predict(X_test))
    mlflow.log_metric("test/accuracy", test_accuracy)
    # MLflow 3 saves with skops, which refuses the fitted optimizer's type unless trusted
    mlflow.sklearn.log_model(model, name="model", skops_trusted_types=[
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer"],
        **({"pip_requirements": ["scikit-learn"]} if "--lean" in sys.argv else {}))
print(f"test/accuracy {test_accuracy:.4f}")
