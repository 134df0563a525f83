# Corpus program modelled on pytorch/tutorials intermediate_source/char_rnn_generation_tutorial.py
# (BSD-3-Clause), https://github.com/pytorch/tutorials
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# Generate names letter by letter with a hand-built RNN cell (Linear layers over the
# concatenated category, letter and hidden state), a loss accumulated over the letters, and a
# hand-written SGD update through p.data.
import random
import string

import torch
import torch.nn as nn

from _standins import names_by_language  # clnet-port: synthetic names (no download)

all_letters = string.ascii_letters + " .,;'-"
n_letters = len(all_letters) + 1  # plus the EOS marker

category_lines = names_by_language()  # clnet-port: instead of reading data/names/*.txt
all_categories = sorted(category_lines)
n_categories = len(all_categories)


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.dropout = nn.Dropout(0.1)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category, input, hidden):
        input_combined = torch.cat((category, input, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.i2o(input_combined)
        output_combined = torch.cat((hidden, output), 1)
        output = self.o2o(output_combined)
        output = self.dropout(output)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def randomChoice(l):
    return l[random.randint(0, len(l) - 1)]


def randomTrainingPair():
    category = randomChoice(all_categories)
    line = randomChoice(category_lines[category])
    return category, line


def categoryTensor(category):
    li = all_categories.index(category)
    tensor = torch.zeros(1, n_categories)
    tensor[0][li] = 1
    return tensor


def inputTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li in range(len(line)):
        letter = line[li]
        tensor[li][0][all_letters.find(letter)] = 1
    return tensor


def targetTensor(line):
    letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(n_letters - 1)  # EOS
    return torch.LongTensor(letter_indexes)


def randomTrainingExample():
    category, line = randomTrainingPair()
    category_tensor = categoryTensor(category)
    input_line_tensor = inputTensor(line)
    target_line_tensor = targetTensor(line)
    return category_tensor, input_line_tensor, target_line_tensor


criterion = nn.NLLLoss()
learning_rate = 0.005  # clnet-port: 0.005, not 0.0005 (hundreds of steps, not 100,000)


def train(category_tensor, input_line_tensor, target_line_tensor):
    target_line_tensor.unsqueeze_(-1)
    hidden = rnn.initHidden()
    rnn.zero_grad()
    loss = torch.Tensor([0])
    for i in range(input_line_tensor.size(0)):
        output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
        l = criterion(output, target_line_tensor[i])
        loss += l
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item() / input_line_tensor.size(0)


torch.manual_seed(0)  # clnet-port: seeded
random.seed(0)
rnn = RNN(n_letters, 128, n_letters)
n_iters = 600  # clnet-port: 600, not 100,000
print_every = 100
all_losses = []
for iter in range(1, n_iters + 1):
    output, loss = train(*randomTrainingExample())
    all_losses.append(loss)
    if iter % print_every == 0:
        print('(%d %d%%) %.4f' % (iter, iter / n_iters * 100, sum(all_losses[-100:]) / 100))

max_length = 20


def sample(category, start_letter='A'):
    with torch.no_grad():
        category_tensor = categoryTensor(category)
        input = inputTensor(start_letter)
        hidden = rnn.initHidden()
        output_name = start_letter
        for i in range(max_length):
            output, hidden = rnn(category_tensor, input[0], hidden)
            topv, topi = output.topk(1)
            topi = topi[0][0]
            if topi == n_letters - 1:
                break
            else:
                letter = all_letters[topi]
                output_name += letter
            input = inputTensor(letter)
        return output_name


def samples(category, start_letters='ABC'):
    return [sample(category, start_letter) for start_letter in start_letters]


rnn.eval()  # clnet-port: sampling without dropout
for category in all_categories:
    print(category, samples(category, 'KMR'))
# clnet-port: outcome check: the per-letter loss falls from ln(59) = 4.08
first, last = sum(all_losses[:50]) / 50, sum(all_losses[-100:]) / 100
print(first, last)
assert last < 0.75 * first, (first, last)
